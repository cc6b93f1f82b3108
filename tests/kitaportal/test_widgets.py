"""FastSelect renders the same options as Django's Select, without a template per option."""

import io
import re

import pytest
from django import forms
from kitaportal.widgets import FastSelect, StableChoices, use_fast_selects

CHOICES = [("", "– keine –"), ("1", "Kita <Sonne> & Mond"), ("2", "Kita Regenbogen")]


def options(html: str) -> list[tuple[str, bool, str]]:
    return [
        (value, bool(selected), label)
        for value, selected, label in re.findall(
            r'<option value="([^"]*)"( selected)?>([^<]*)</option>', html
        )
    ]


def test_fast_select_matches_djangos_select_option_for_option():
    for value in ("", "2", None, "9"):
        django = forms.Select(choices=CHOICES).render("wish", value, {"id": "id_wish"})
        fast = FastSelect(choices=CHOICES).render("wish", value, {"id": "id_wish"})
        assert options(fast) == options(django)
        assert 'id="id_wish"' in fast and 'name="wish"' in fast
    assert "&lt;Sonne&gt; &amp; Mond" in FastSelect(choices=CHOICES).render("w", None)


def test_use_fast_selects_swaps_only_plain_selects_and_keeps_required_and_choices():
    class Form(forms.Form):
        wish = forms.ChoiceField(choices=CHOICES)
        hours = forms.ChoiceField(choices=CHOICES[1:], widget=forms.RadioSelect)

    form = use_fast_selects(Form())
    assert isinstance(form.fields["wish"].widget, FastSelect)
    assert isinstance(form.fields["hours"].widget, forms.RadioSelect)
    html = str(form["wish"])
    assert "required" in html
    assert len(options(html)) == 3


def test_stable_choices_render_like_djangos_select_and_reuse_their_options():
    stable = StableChoices(CHOICES)
    field = forms.TypedChoiceField(choices=stable, coerce=int, empty_value=None, required=False)
    assert field.choices is stable, "no per-field copy of the list"
    for value in ("", "2", None, "9", 2):
        django = forms.Select(choices=CHOICES).render("wish", value, {"id": "id_wish"})
        fast = FastSelect(choices=stable).render("wish", value, {"id": "id_wish"})
        assert options(fast) == options(django), value
    rendered = stable.options
    FastSelect(choices=stable).render("wish", "1")
    assert stable.options is rendered and not any("selected" in o for o in rendered)
    assert field.clean("2") == 2 and field.clean("") is None


def test_table_downloads_are_csv_for_german_excel_or_xlsx_and_nothing_else():
    from decimal import Decimal

    from django.http import Http404
    from kitaportal.exports import table_download
    from openpyxl import load_workbook

    rows = [["Kita Sonne", Decimal("12.50"), 3]]
    csv_response = table_download("csv", ["Kita", "Euro", "Plätze"], rows, "liste")
    assert csv_response.content.decode("utf-8").startswith("\ufeffKita;Euro;Plätze\r\n")
    assert csv_response["Content-Disposition"] == 'attachment; filename="liste.csv"'
    xlsx = table_download("xlsx", ["Kita", "Euro", "Plätze"], rows, "liste", sheet_title="Ü")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.title == "Ü" and sheet["B2"].value == 12.5 and sheet["C2"].value == 3
    with pytest.raises(Http404):
        table_download("pdf", [], rows, "liste")
