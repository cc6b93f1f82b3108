"""Form widgets shared by the portals."""

from django import forms
from django.forms.utils import flatatt
from django.utils.choices import BaseChoiceIterator
from django.utils.html import format_html
from django.utils.safestring import mark_safe


class StableChoices(BaseChoiceIterator):
    """A fixed list of flat (value, label) choices, shared by many fields and requests.

    Django's choice fields copy and normalise a plain list for every field of every form; a
    choice iterator is kept as it is. FastSelect renders its <option>s once and reuses them."""

    def __init__(self, choices):
        self.choices = [(str(value), label) for value, label in choices]
        self.index = {}
        for position, (value, _label) in enumerate(self.choices):
            self.index.setdefault(value, position)
        self.options: list[str] | None = None

    def __iter__(self):
        return iter(self.choices)

    def __len__(self):
        return len(self.choices)

    # Shared and never changed: a form's copy of its fields (Form.__init__ deep-copies them)
    # keeps the same list instead of copying every choice and rendered option.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def _option(value, label, selected: bool = False) -> str:
    return format_html(
        '<option value="{}"{}>{}</option>', value, mark_safe(" selected") if selected else "", label
    )


class FastSelect(forms.Select):
    """A <select> whose <option>s are rendered in Python.

    Django renders every option through its own template; a form with five lists of ~190
    Kitas made about 2,000 template renders (measured: ~90 % of the pre-registration page's
    time). The markup is the same; option groups fall back to Django's rendering.
    """

    def render(self, name, value, attrs=None, renderer=None):
        if isinstance(self.choices, StableChoices):
            return self._render_stable(name, value, attrs)
        # a comprehension, not list(): list() asks a ModelChoiceIterator for its len(), which
        # costs a COUNT query
        choices = [choice for choice in self.choices]  # noqa: C416
        if any(isinstance(label, list | tuple) for _, label in choices):
            return super().render(name, value, attrs, renderer)
        final_attrs = self.build_attrs(self.attrs, attrs or {})
        final_attrs["name"] = name
        selected = {str(v) for v in self.format_value(value)}
        options = []
        for option_value, label in choices:
            option_value = "" if option_value is None else str(option_value)
            is_selected = option_value in selected
            options.append(
                format_html(
                    '<option value="{}"{}>{}</option>',
                    option_value,
                    mark_safe(" selected") if is_selected else "",
                    label,
                )
            )
            if is_selected:
                selected = set()  # a single select marks only the first match
        return format_html(
            "<select{}>\n{}\n</select>", flatatt(final_attrs), mark_safe("\n".join(options))
        )

    def _render_stable(self, name, value, attrs) -> str:
        stable = self.choices
        if stable.options is None:
            stable.options = [_option(v, label) for v, label in stable.choices]
        options = stable.options
        for candidate in self.format_value(value):
            position = stable.index.get(str(candidate))
            if position is not None:  # a single select marks only the first match
                options = list(options)
                options[position] = _option(*stable.choices[position], selected=True)
                break
        final_attrs = self.build_attrs(self.attrs, attrs or {})
        final_attrs["name"] = name
        return format_html(
            "<select{}>\n{}\n</select>", flatatt(final_attrs), mark_safe("\n".join(options))
        )


def use_fast_selects(form: forms.Form) -> forms.Form:
    """Swap every plain Select of a form for a FastSelect (same attrs and choices)."""
    for field in form.fields.values():
        if type(field.widget) is forms.Select:
            # FastSelect adds no state: switching the class keeps the widget's lazy choices
            # (a new widget would evaluate a ModelChoiceField's queryset once more).
            field.widget.__class__ = FastSelect
    return form
