from django import forms
from django.utils.translation import gettext_lazy as _


class DistrictForm(forms.Form):
    name = forms.CharField(label=_("Name des Bezirks"), max_length=100)
    fachberatung_email = forms.EmailField(
        label=_("E-Mail der Fachberatung Kindertagespflege (optional)"), required=False
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Datei (CSV oder XLSX nach Vorlage)"),
        help_text=_("Höchstens 5 MB. Es wird nur übernommen, wenn jede Zeile stimmt."),
    )


class RulesForm(forms.Form):
    max_wishes = forms.IntegerField(
        label=_("Höchstzahl der Wunsch-Kitas pro Anmeldung"), min_value=1, max_value=10
    )
    application_deadline = forms.DateField(
        label=_("Anmeldeschluss für die Hauptvergabe"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    offers_from = forms.DateField(
        label=_("Zusagen werden verschickt ab"), widget=forms.DateInput(attrs={"type": "date"})
    )


class TextsForm(forms.Form):
    welcome_text = forms.CharField(
        label=_("Begrüßungstext (Deutsch)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )
    welcome_text_en = forms.CharField(
        label=_("Begrüßungstext (Englisch)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
        required=False,
    )
    logo = forms.ImageField(label=_("Logo (PNG oder JPEG, höchstens 1 MB)"), required=False)
    logo_alt = forms.CharField(
        label=_("Bildbeschreibung des Logos"), max_length=200, required=False
    )
