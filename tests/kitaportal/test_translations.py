"""The message catalogs are complete, compiled and in step with the code (no database needed).

German is the source language (its catalog maps every string to itself); English is complete.
Regenerate with `kitaportal makemessages -l en -l de --ignore=.venv --ignore=.data
--ignore=tests --ignore=benchmarks --ignore=build --no-obsolete` and compile with
`make messages`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
LOCALE_DIR = REPO / "platform" / "kitaportal" / "locale"
PO_FILES = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
# What the project's makemessages run leaves out: its --ignore list, Django's default ignores
# (hidden folders), STATIC_ROOT and generated files; the catalogs themselves are not copied.
NOT_SCANNED = (".*", "tests", "benchmarks", "build", "locale", "__pycache__", "*.pyc", "*~")
NOT_SCANNED_AT_ROOT = {"staticfiles", "media", "kitaportal.egg-info"}
# The file types makemessages reads for the "django" domain; nothing else is copied.
SCANNED_SUFFIXES = {".html", ".txt", ".py"}
PYTHON_FORMAT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)


def catalog_id(po_path: Path) -> str:
    return str(po_path.relative_to(LOCALE_DIR))


def live_entries(catalog) -> list[polib.POEntry]:
    return [entry for entry in catalog if not entry.obsolete]


def key(entry) -> tuple[str | None, str, str]:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural or "")


def placeholders(text: str) -> tuple[frozenset[str], Counter]:
    """Named placeholders as a set, positional ones (`%s`, `%d`) counted; `%%` is text."""
    named, positional = set(), Counter()
    for match in PYTHON_FORMAT.finditer(text):
        if match.group(0) == "%%":
            continue
        if match.group("name") is not None:
            named.add(match.group(0))
        else:
            positional[match.group(0)] += 1
    return frozenset(named), positional


def translations(entry) -> list[tuple[str, str]]:
    """(source, translation) pairs; plural form 0 answers msgid, the others msgid_plural."""
    if entry.msgid_plural:
        return [
            (entry.msgid if form == 0 else entry.msgid_plural, text)
            for form, text in sorted(entry.msgstr_plural.items())
        ]
    return [(entry.msgid, entry.msgstr)]


def test_there_is_a_catalog_for_every_configured_language():
    languages = {code for code, _name in settings.LANGUAGES}
    assert settings.LOCALE_PATHS == [LOCALE_DIR]
    assert {path.parts[-3] for path in PO_FILES} == languages


@pytest.mark.parametrize("po_path", PO_FILES, ids=catalog_id)
def test_every_catalog_entry_is_translated_and_none_is_fuzzy(po_path):
    catalog = polib.pofile(str(po_path))
    assert not catalog.metadata_is_fuzzy
    assert catalog.metadata["Language"] == po_path.parts[-3]
    assert catalog.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    problems = []
    for entry in catalog:
        if entry.obsolete:
            problems.append(f"obsolete: {entry.msgid!r}")
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        if entry.msgid_plural and sorted(entry.msgstr_plural) != [0, 1]:
            problems.append(f"plural forms missing: {entry.msgid!r}")
        for _source, text in translations(entry):
            if not text.strip():
                problems.append(f"untranslated: {entry.msgid!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("po_path", PO_FILES, ids=catalog_id)
def test_translations_keep_exactly_the_placeholders_of_their_source(po_path):
    problems = []
    for entry in live_entries(polib.pofile(str(po_path))):
        if "python-format" not in entry.flags:
            continue
        for source, text in translations(entry):
            if placeholders(text) != placeholders(source):
                problems.append(f"{source!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_the_german_catalog_maps_every_source_string_to_itself():
    catalog = polib.pofile(str(LOCALE_DIR / "de" / "LC_MESSAGES" / "django.po"))
    changed = [
        source
        for entry in live_entries(catalog)
        for source, text in translations(entry)
        if text != source
    ]
    assert not changed, "\n".join(changed)


@pytest.mark.parametrize("po_path", PO_FILES, ids=catalog_id)
def test_the_compiled_catalog_is_up_to_date_with_its_po_file(po_path):
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run `make messages`"
    catalog = polib.pofile(str(po_path))
    compiled = polib.mofile(str(mo_path))
    # msgfmt compiles what is translated and not fuzzy (the test above wants that to be all)
    compilable = [e for e in live_entries(catalog) if e.translated()]
    expected = {key(e): e.msgstr_plural or e.msgstr for e in compilable}
    actual = {key(e): e.msgstr_plural or e.msgstr for e in compiled if e.msgid or e.msgctxt}
    stale = sorted(str(k) for k in expected.keys() ^ actual.keys())
    assert not stale, f"{mo_path.name} is out of date (run `make messages`):\n" + "\n".join(stale)
    differing = [str(k) for k in expected if expected[k] != actual[k]]
    assert not differing, f"{mo_path.name} is out of date:\n" + "\n".join(differing)
    assert compiled.metadata.get("Language") == catalog.metadata["Language"]
    assert compiled.metadata.get("Plural-Forms") == catalog.metadata["Plural-Forms"]


@pytest.fixture(scope="module")
def extracted_messages(tmp_path_factory) -> set[tuple[str | None, str, str]]:
    """Every string marked for translation in the code, found by Django's makemessages run
    on a copy of the source tree (so the committed catalogs stay untouched)."""
    assert shutil.which("xgettext"), "GNU gettext is missing: `make test` installs it"
    source = tmp_path_factory.mktemp("messages") / "src"
    ignore_anywhere = shutil.ignore_patterns(*NOT_SCANNED)

    def ignore(folder: str, names: list[str]) -> set[str]:
        at_root = NOT_SCANNED_AT_ROOT if Path(folder) == REPO else set()
        other_files = {
            name
            for name in names
            if Path(name).suffix not in SCANNED_SUFFIXES and not Path(folder, name).is_dir()
        }
        return set(ignore_anywhere(folder, names)) | (at_root & set(names)) | other_files

    shutil.copytree(REPO, source, ignore=ignore)
    (source / "locale").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "--locale", "en", "--no-obsolete"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    catalog = polib.pofile(str(source / "locale" / "en" / "LC_MESSAGES" / "django.po"))
    messages = {key(entry) for entry in live_entries(catalog)}
    assert messages, "makemessages found no strings at all"
    return messages


@pytest.mark.parametrize("po_path", PO_FILES, ids=catalog_id)
def test_every_string_marked_in_the_code_is_in_the_catalog(po_path, extracted_messages):
    committed = {key(entry) for entry in live_entries(polib.pofile(str(po_path)))}
    missing = sorted(str(k) for k in extracted_messages - committed)
    assert not missing, "run makemessages and translate:\n" + "\n".join(missing)


@pytest.mark.parametrize("po_path", PO_FILES, ids=catalog_id)
def test_the_catalog_holds_no_string_the_code_no_longer_uses(po_path, extracted_messages):
    committed = {key(entry) for entry in live_entries(polib.pofile(str(po_path)))}
    unused = sorted(str(k) for k in committed - extracted_messages)
    assert not unused, "run makemessages (--no-obsolete):\n" + "\n".join(unused)
