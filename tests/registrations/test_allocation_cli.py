"""`kitaportal allocate --instance market.json --out result.json` (no database needed)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registrations.allocation import MARKET_FORMAT, audit, validator

REPO = Path(__file__).resolve().parents[2]


def small_market() -> dict[str, Any]:
    """Reserved places, twins, a family-daycare option and two care-hour bands."""

    def kid(cid: str, wishes: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
        return {
            "id": cid,
            "birth_date": extra.pop("born", "2024-03-01"),
            "registered_at": extra.pop("registered", "2025-11-03T09:15:00+01:00"),
            "age_group": "U3",
            "care_hours": extra.pop("hours", 35),
            "wishes": [{"facility": f, "priority": p} for f, p in wishes],
            **extra,
        }

    return {
        "format": MARKET_FORMAT,
        "round": "test-2027-08",
        "seed": 2027,
        "facilities": [
            {
                "id": "kita-sonnenschein",
                "district": "mitte",
                "categories": [
                    {
                        "age_group": "U3",
                        "care_hours": 35,
                        "capacity": 3,
                        "reserved": [{"employer": "stadtverwaltung", "places": 1}],
                    },
                    {"age_group": "U3", "care_hours": 45, "capacity": 1},
                ],
            },
            {
                "id": "kita-regenbogen",
                "district": "mitte",
                "categories": [{"age_group": "U3", "care_hours": 35, "capacity": 2}],
            },
            {
                "id": "KTP:mitte",
                "kind": "family_daycare",
                "district": "mitte",
                "categories": [{"age_group": "U3", "care_hours": 35, "capacity": 5}],
            },
        ],
        "children": [
            kid("anna", [("kita-sonnenschein", 4), ("kita-regenbogen", 2)]),
            kid("ben", [("kita-sonnenschein", 3), ("KTP:mitte", 1)], employers=["stadtverwaltung"]),
            kid("cem", [("kita-sonnenschein", 4), ("kita-regenbogen", 4)], born="2024-01-20"),
            kid("dila", [("kita-sonnenschein", 4), ("kita-regenbogen", 4)], born="2024-01-20"),
            kid("emil", [("kita-sonnenschein", 5)], hours=45),
            kid(
                "fee",
                [("kita-sonnenschein", 5), ("kita-regenbogen", 1)],
                hours=45,
                born="2024-05-01",
            ),
        ],
        "groups": [{"id": "cem-dila", "kind": "twins", "members": ["cem", "dila"]}],
    }


def run(instance: Path, out: Path) -> str:
    stdout = io.StringIO()
    call_command("allocate", "--instance", str(instance), "--out", str(out), stdout=stdout)
    return stdout.getvalue()


def test_a_valid_market_round_trips_through_the_command_into_a_schema_valid_result(tmp_path):
    market = small_market()
    instance = tmp_path / "market.json"
    instance.write_text(json.dumps(market), encoding="utf-8")
    out = tmp_path / "result.json"

    summary = run(instance, out)

    result = json.loads(out.read_text(encoding="utf-8"))
    assert validator("result").errors(result) == []
    assert audit(market, result) == []
    assert result["round"] == "test-2027-08"
    placed = {r["id"]: (r["placement"] or {}).get("facility") for r in result["children"]}
    assert placed["cem"] == placed["dila"]  # the twins stay together
    assert placed["fee"] is None  # one 45-hour place, taken by the older emil
    assert "children placed" in summary and f"Written {out}" in summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["market.json", "result.json"]


def test_running_the_same_market_twice_writes_identical_files(tmp_path):
    instance = tmp_path / "market.json"
    instance.write_text(json.dumps(small_market()), encoding="utf-8")
    run(instance, tmp_path / "first.json")
    run(instance, tmp_path / "second.json")
    assert (tmp_path / "first.json").read_bytes() == (tmp_path / "second.json").read_bytes()


def assert_rejected(tmp_path: Path, text: str, *expected: str) -> None:
    """Bad input: CommandError naming the problem, no output written, an old result kept."""
    instance = tmp_path / "market.json"
    instance.write_text(text, encoding="utf-8")
    out = tmp_path / "result.json"
    with pytest.raises(CommandError) as error:
        run(instance, out)
    for part in expected:
        assert part in str(error.value)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["market.json"]

    out.write_text("previous result", encoding="utf-8")
    with pytest.raises(CommandError):
        run(instance, out)
    assert out.read_text(encoding="utf-8") == "previous result"


def test_a_json_syntax_error_names_the_file_line_and_column_and_writes_nothing(tmp_path):
    text = json.dumps(small_market(), indent=2).replace('"seed": 2027', '"seed": 2027,,')
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "2027,," in row)
    assert_rejected(tmp_path, text, "market.json", f"line {line} column", "invalid JSON")


def test_a_wrong_type_names_the_json_path_and_writes_nothing(tmp_path):
    market = small_market()
    market["children"][3]["wishes"][1]["priority"] = "high"
    assert_rejected(
        tmp_path,
        json.dumps(market),
        "children[3].wishes[1].priority: 'high' is not of type 'number'",
    )


def test_an_unknown_facility_names_the_json_path_and_writes_nothing(tmp_path):
    market = small_market()
    market["children"][3]["wishes"][1]["facility"] = "kita-unbekannt"
    assert_rejected(
        tmp_path,
        json.dumps(market),
        "children[3].wishes[1].facility: unknown facility 'kita-unbekannt'",
    )


def test_a_negative_capacity_names_the_json_path_and_writes_nothing(tmp_path):
    market = small_market()
    market["facilities"][1]["categories"][0]["capacity"] = -2
    assert_rejected(
        tmp_path,
        json.dumps(market),
        "facilities[1].categories[0].capacity: -2 is less than the minimum of 0",
    )


def test_a_missing_instance_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read the file"):
        run(tmp_path / "missing.json", tmp_path / "result.json")
    assert not (tmp_path / "result.json").exists()


def test_the_kitaportal_console_script_runs_allocate_and_exits_non_zero_on_bad_input(tmp_path):
    instance = tmp_path / "market.json"
    instance.write_text(json.dumps(small_market()), encoding="utf-8")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="kitaportal.settings.test")
    script = Path(sys.executable).parent / "kitaportal"
    ok = subprocess.run(
        [str(script), "allocate", "--instance", str(instance), "--out", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["children"] == 6

    broken = small_market()
    broken["children"][0]["care_hours"] = 30
    instance.write_text(json.dumps(broken), encoding="utf-8")
    failed = subprocess.run(
        [str(script), "allocate", "--instance", str(instance), "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert failed.returncode == 1
    assert "children[0].care_hours: 30 is not one of [25, 35, 45]" in failed.stderr
    assert not (tmp_path / "x.json").exists()
