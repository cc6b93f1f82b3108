"""The fast form renderer writes exactly what Django's widget templates write."""

from datetime import date

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy
from kitaportal.renderers import FAST_TEMPLATES, FastWidgetRenderer

DJANGO = DjangoTemplates()
FAST = FastWidgetRenderer()

WIDGETS = [
    forms.TextInput(),
    forms.TextInput(attrs={"placeholder": gettext_lazy("Name"), "required": True}),
    forms.TextInput(attrs={"maxlength": 100, "disabled": False, "data-x": "\"<&>'"}),
    forms.EmailInput(attrs={"autocomplete": "email"}),
    forms.URLInput(),
    forms.NumberInput(attrs={"min": 0, "step": "0.5"}),
    forms.PasswordInput(render_value=True),
    forms.HiddenInput(),
    forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    forms.DateTimeInput(),
    forms.TimeInput(),
    forms.CheckboxInput(attrs={"aria-invalid": "true"}),
    forms.Textarea(attrs={"rows": 3}),
    forms.Textarea(),
]
VALUES = [None, "", "Müller & Söhne <b>", mark_safe("<i>safe</i>"), 0, 12.5, date(2027, 8, 1), True]


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: type(w).__name__)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_input_and_textarea_renders_byte_for_byte_like_django(widget, value):
    attrs = {"id": "id_feld", "aria-describedby": "feld-hilfe"}
    expected = widget.render("feld", value, attrs=attrs, renderer=DJANGO)
    assert widget.render("feld", value, attrs=attrs, renderer=FAST) == expected


def test_every_fast_template_is_one_of_djangos_and_the_rest_falls_back():
    for name in FAST_TEMPLATES:
        assert DJANGO.get_template(name) is not None
    select = forms.Select(choices=[("a", "A & B")])
    assert select.render("s", "a", renderer=FAST) == select.render("s", "a", renderer=DJANGO)
    boxes = forms.CheckboxSelectMultiple(choices=[("x", "X"), ("y", "Y")])
    assert boxes.render("t", ["y"], renderer=FAST) == boxes.render("t", ["y"], renderer=DJANGO)


def test_the_settings_use_the_fast_renderer():
    from django.forms.renderers import get_default_renderer

    assert isinstance(get_default_renderer(), FastWidgetRenderer)
