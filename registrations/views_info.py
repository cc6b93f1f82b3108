"""Information pages of the portal: the accessibility statement with its feedback form."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import services


class AccessibilityFeedbackForm(forms.Form):
    page = forms.CharField(
        label=gettext_lazy("Auf welcher Seite? (optional)"), max_length=300, required=False
    )
    message = forms.CharField(
        label=gettext_lazy("Beschreibung der Barriere"),
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=3000,
    )
    email = forms.EmailField(label=gettext_lazy("E-Mail für Rückfragen (optional)"), required=False)


def accessibility(request):
    form = AccessibilityFeedbackForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.submit_accessibility_feedback(
                request.user if request.user.is_authenticated else None, **form.cleaned_data
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field, error)
        else:
            messages.success(request, _("Vielen Dank! Ihre Rückmeldung ist eingegangen."))
            return redirect("accessibility")
    return render(request, "registrations/accessibility.html", {"form": form})
