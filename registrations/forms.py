"""Forms of the parents' portal. They parse input; the rules live in services."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _
from kitaportal.widgets import use_fast_selects

from . import finder
from .models import CareHours, District, Facility

MAX_CHILDREN = 3
CHILD_FIELDS = ("first_name", "last_name", "birth_date", "expected")


class SignupForm(forms.Form):
    first_name = forms.CharField(label=_("Vorname"), max_length=100)
    last_name = forms.CharField(label=_("Nachname"), max_length=100)
    email = forms.EmailField(label=_("E-Mail-Adresse"))
    password = forms.CharField(
        label=_("Passwort"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Mindestens 8 Zeichen, nicht nur Ziffern."),
    )
    language = forms.ChoiceField(
        label=_("Sprache der E-Mails"), choices=[("de", "Deutsch"), ("en", "English")]
    )

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


def facility_choices(version: str | None = None):
    return finder.facility_choices(str(_("– keine Auswahl –")), version)


class ApplicationForm(forms.Form):
    """Field names follow the service's error keys so messages land next to their field."""

    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    start_date = forms.DateField(
        label=_("Gewünschter Betreuungsbeginn"), widget=forms.DateInput(attrs={"type": "date"})
    )
    care_hours = forms.TypedChoiceField(
        label=_("Betreuungsumfang pro Woche"),
        choices=CareHours.choices,
        coerce=int,
        widget=forms.RadioSelect,
    )
    street = forms.CharField(label=_("Straße und Hausnummer"), max_length=200)
    postcode = forms.CharField(label=_("PLZ"), max_length=5, min_length=5)
    # the districts come from the finder's kept list (see __init__)
    district = forms.TypedChoiceField(
        label=_("Bezirk, in dem Sie wohnen"), coerce=int, empty_value=None
    )
    guardian_first_name = forms.CharField(label=_("Vorname"), max_length=100)
    guardian_last_name = forms.CharField(label=_("Nachname"), max_length=100)
    guardian_email = forms.EmailField(label=_("E-Mail-Adresse"))
    guardian_phone = forms.CharField(label=_("Telefon (optional)"), max_length=40, required=False)
    guardian2_first_name = forms.CharField(label=_("Vorname (optional)"), required=False)
    guardian2_last_name = forms.CharField(label=_("Nachname (optional)"), required=False)
    guardian2_email = forms.EmailField(label=_("E-Mail-Adresse (optional)"), required=False)
    place_together = forms.BooleanField(
        label=_("Geschwister oder Mehrlinge nur gemeinsam in derselben Kita betreuen"),
        required=False,
    )
    wants_family_daycare = forms.BooleanField(
        label=_("Auch Kindertagespflege (Tagesmutter/Tagesvater) anfragen"), required=False
    )
    family_daycare_district = forms.TypedChoiceField(
        label=_("Bezirk für die Kindertagespflege"), coerce=int, empty_value=None, required=False
    )
    notes = forms.CharField(
        label=_("Hinweise (optional)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=1000,
    )

    def __init__(self, *args, max_wishes: int = 5, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_wishes = max_wishes
        for index in range(MAX_CHILDREN):
            required = index == 0
            suffix = "" if required else " " + str(_("(optional)"))
            self.fields[f"child_{index}_first_name"] = forms.CharField(
                label=_("Vorname") + suffix, max_length=100, required=required
            )
            self.fields[f"child_{index}_last_name"] = forms.CharField(
                label=_("Nachname") + suffix, max_length=100, required=required
            )
            self.fields[f"child_{index}_birth_date"] = forms.DateField(
                label=_("Geburtsdatum oder errechneter Termin") + suffix,
                required=required,
                widget=forms.DateInput(attrs={"type": "date"}),
            )
            self.fields[f"child_{index}_expected"] = forms.BooleanField(
                label=_("noch nicht geboren"), required=False
            )
        version = finder.data_version()  # one query for both lists
        districts = finder.district_choices(version)
        self.fields["district"].choices = districts
        self.fields["family_daycare_district"].choices = districts
        choices = facility_choices(version)
        for rank in range(1, max_wishes + 1):
            self.fields[f"wish_{rank}"] = forms.TypedChoiceField(
                label=_("Wunsch %(rank)d") % {"rank": rank},
                choices=choices,
                coerce=int,
                empty_value=None,
                required=False,
            )
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4())
        use_fast_selects(self)

    def child_rows(self):
        return [
            [
                self[f"child_{i}_{name}"]
                for name in ("first_name", "last_name", "birth_date", "expected")
            ]
            for i in range(MAX_CHILDREN)
        ]

    def wish_fields(self):
        return [self[f"wish_{rank}"] for rank in range(1, self.max_wishes + 1)]

    def add_service_errors(self, message_dict: dict) -> None:
        """Place a service's ValidationError messages next to the matching field."""
        mapping = {
            "guardian": "guardian_first_name",
            "address": "street",
            "children": None,
            "wishes": "wish_1",
        }
        for key, messages in message_dict.items():
            target = mapping.get(key, key)
            if key.startswith("child_") and key.endswith("_name"):
                target = key.replace("_name", "_first_name")
            if target not in self.fields:
                target = None
            for message in messages:
                self.add_error(target, message)


class StaffAccountForm(forms.Form):
    first_name = forms.CharField(label=_("Vorname"), max_length=100)
    last_name = forms.CharField(label=_("Nachname"), max_length=100)
    email = forms.EmailField(label=_("E-Mail-Adresse"))
    role = forms.ChoiceField(label=_("Rolle"))
    carrier = forms.ModelChoiceField(
        label=_("Träger (für Träger-Konten)"), queryset=None, required=False
    )
    facility = forms.ModelChoiceField(
        label=_("Kita (für Kita-Konten)"), queryset=None, required=False
    )
    district = forms.ModelChoiceField(
        label=_("Bezirk (für die Fachberatung)"), queryset=District.objects.all(), required=False
    )
    language = forms.ChoiceField(
        label=_("Sprache der E-Mails"), choices=[("de", "Deutsch"), ("en", "English")]
    )

    def __init__(self, *args, **kwargs):
        from .models import Carrier
        from .staff import STAFF_ROLES

        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role.value, role.label) for role in STAFF_ROLES]
        self.fields["carrier"].queryset = Carrier.objects.order_by("name")
        self.fields["facility"].queryset = Facility.objects.order_by("name")
