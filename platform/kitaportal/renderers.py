"""The form renderer: Django's own, with its input and textarea widgets rendered in Python.

Every <input> and <textarea> of a form goes through Django's template engine: a template
lookup, a context and three nested templates for one tag. On the pre-registration page (33
fields) that was a quarter of the page's time, and the finder's filter form pays it on every
query it has not seen yet. Here the few templates that make up those tags
(`django/forms/widgets/input.html`, `attrs.html`, the one-line `text.html`, `email.html`, …
that include it, and `textarea.html`) are written out in Python, producing the same bytes
(tests/kitaportal/test_renderers.py compares them with the template engine's output for every
widget and a range of values and attributes). Every other template (selects, radio and
checkbox lists, labels, errors) is rendered by Django as before. A project that overrides one
of these templates must remove it from FAST_TEMPLATES.
"""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

WIDGETS = "django/forms/widgets/"
# The templates that are just {% include "django/forms/widgets/input.html" %} plus a newline.
INPUT_INCLUDES = (
    "text",
    "email",
    "url",
    "number",
    "password",
    "hidden",
    "date",
    "datetime",
    "time",
    "checkbox",
    "search",
    "tel",
    "color",
    "file",
)
FAST_TEMPLATES = frozenset(
    (f"{WIDGETS}input.html", f"{WIDGETS}textarea.html")
    + tuple(f"{WIDGETS}{name}.html" for name in INPUT_INCLUDES)
)


def _attrs(attrs: dict) -> str:
    """attrs.html: ` name="value"`, a bare ` name` for True, nothing for False."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        parts.append(" " + conditional_escape(name))
        if value is not True:
            parts.append('="' + conditional_escape(value) + '"')
    return "".join(parts)


def render_input(widget: dict) -> str:
    value = widget["value"]
    html = '<input type="' + conditional_escape(widget["type"]) + '" name="'
    html += conditional_escape(widget["name"]) + '"'
    if value is not None:
        html += ' value="' + conditional_escape(value) + '"'
    return html + _attrs(widget["attrs"]) + ">"


def render_textarea(widget: dict) -> str:
    value = widget["value"]
    html = '<textarea name="' + conditional_escape(widget["name"]) + '"'
    html += _attrs(widget["attrs"]) + ">\n"
    if value:
        html += conditional_escape(value)
    return html + "</textarea>"


class FastWidgetRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        # (Django strips the rendered template, so the templates' newlines do not count.)
        fast = template_name in FAST_TEMPLATES and len(context) == 1 and "widget" in context
        if not fast:
            return super().render(template_name, context, request)
        if template_name.endswith("textarea.html"):
            return mark_safe(render_textarea(context["widget"]))  # noqa: S308 - escaped above
        return mark_safe(render_input(context["widget"]))  # noqa: S308 - escaped above
