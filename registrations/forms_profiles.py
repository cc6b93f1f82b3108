"""Forms of the facility-profile back office; they only parse input (see profiles.py)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Facility
from .profiles import MAX_UPLOAD_BYTES, ProfileInput

TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class FacilityProfileForm(forms.Form):
    concept = forms.CharField(
        label=_("Pädagogisches Konzept"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Wie arbeiten Sie mit den Kindern? Höchstens 4000 Zeichen."),
    )
    closing_days = forms.CharField(
        label=_("Schließtage"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("z. B. drei Wochen in den Sommerferien, zwischen den Jahren"),
    )
    opens_at = forms.TimeField(label=_("öffnet um"), widget=TIME_INPUT)
    closes_at = forms.TimeField(label=_("schließt um"), widget=TIME_INPUT)
    phone = forms.CharField(label=_("Telefon (optional)"), required=False, max_length=40)
    email = forms.EmailField(label=_("E-Mail (optional)"), required=False)

    @classmethod
    def for_facility(cls, facility: Facility, data=None):
        initial = {name: getattr(facility, name) for name in ProfileInput.__dataclass_fields__}
        return cls(data=data, initial=initial)

    def to_input(self) -> ProfileInput:
        return ProfileInput(
            **{name: self.cleaned_data[name] for name in ProfileInput.__dataclass_fields__}
        )


class FacilityPhotoForm(forms.Form):
    image = forms.FileField(
        label=_("Foto (JPEG, PNG oder WebP, höchstens 5 MB)"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    alt_text = forms.CharField(
        label=_("Bildbeschreibung (Alternativtext)"),
        max_length=200,
        help_text=_("Was ist zu sehen? Z. B. „Gruppenraum mit Bauecke und großen Fenstern“."),
    )
    rights_confirmed = forms.BooleanField(
        label=_("Wir haben die Rechte an diesem Foto; es zeigt keine erkennbaren Personen."),
    )

    def clean_image(self):
        image = self.cleaned_data["image"]
        if image.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("Das Foto ist zu groß: höchstens 5 MB sind erlaubt."))
        return image
