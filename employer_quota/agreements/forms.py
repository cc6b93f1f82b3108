"""Forms for agreement terms (both sides) and code issuance; views turn them into Terms."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import AgeGroup, AgreementVersion
from .services import DEFAULT_VALID_DAYS, Terms

CARE_HOURS = [(25, _("25 Stunden/Woche")), (35, _("35 Stunden/Woche")), (45, _("45 Stunden/Woche"))]
MONTHS = [(m, str(m)) for m in range(1, 13)]


class TermsForm(forms.Form):
    age_group = forms.ChoiceField(label=_("Altersgruppe"), choices=AgeGroup.choices)
    places = forms.IntegerField(label=_("Plätze"), min_value=1, max_value=200)
    care_hours = forms.TypedChoiceField(
        label=_("Betreuungsumfang"), choices=CARE_HOURS, coerce=int, initial=35
    )
    valid_from = forms.DateField(
        label=_("gültig ab"), widget=forms.DateInput(attrs={"type": "date"})
    )
    valid_to = forms.DateField(
        label=_("gültig bis"), widget=forms.DateInput(attrs={"type": "date"})
    )
    monthly_fee = forms.DecimalField(
        label=_("Monatsentgelt je Platz (Euro)"), min_value=0, max_digits=8, decimal_places=2
    )
    release_rule = forms.ChoiceField(
        label=_("Freigaberegel"),
        choices=AgreementVersion.ReleaseRule.choices,
        initial=AgreementVersion.ReleaseRule.UNCLAIMED_BY_DATE,
    )
    release_day = forms.IntegerField(
        label=_("Stichtag: Tag"),
        min_value=1,
        max_value=31,
        initial=15,
        help_text=_("Nicht beanspruchte Plätze werden an diesem Tag vor dem Kita-Jahr frei."),
    )
    release_month = forms.TypedChoiceField(
        label=_("Stichtag: Monat"), choices=MONTHS, coerce=int, initial=3
    )

    def terms(self) -> Terms:
        data = self.cleaned_data
        return Terms(
            age_group=data["age_group"],
            places=data["places"],
            care_hours=data["care_hours"],
            valid_from=data["valid_from"],
            valid_to=data["valid_to"],
            monthly_fee=data["monthly_fee"],
            release_rule=data["release_rule"],
            release_month=data["release_month"],
            release_day=data["release_day"],
        )

    @classmethod
    def initial_from(cls, version: AgreementVersion) -> dict:
        return {
            name: getattr(version, name)
            for name in (
                "age_group",
                "places",
                "care_hours",
                "valid_from",
                "valid_to",
                "monthly_fee",
                "release_rule",
                "release_month",
                "release_day",
            )
        }

    def add_service_errors(self, errors: dict) -> None:
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class IssueCodesForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Ausgabe"),
        choices=[("email", _("per E-Mail-Einladung")), ("print", _("als Druckbogen"))],
        widget=forms.RadioSelect,
        initial="email",
    )
    emails = forms.CharField(
        label=_("E-Mail-Adressen der Beschäftigten (eine je Zeile)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Die Adressen werden nur für den Versand verwendet und nicht bei den Codes gespeichert."
        ),
    )
    count = forms.IntegerField(
        label=_("Anzahl Codes (Druckbogen)"), min_value=1, max_value=200, required=False
    )
    valid_days = forms.IntegerField(
        label=_("gültig (Tage)"), min_value=1, max_value=365, initial=DEFAULT_VALID_DAYS
    )

    def clean(self):
        data = super().clean()
        if data.get("channel") == "email":
            raw = [
                line.strip() for line in (data.get("emails") or "").replace(",", "\n").splitlines()
            ]
            addresses = [line for line in raw if line]
            validator = forms.EmailField()
            valid = []
            for address in addresses:
                try:
                    valid.append(validator.clean(address).lower())
                except forms.ValidationError:
                    self.add_error(
                        "emails", _("Keine gültige E-Mail-Adresse: %(a)s") % {"a": address}
                    )
            if not addresses:
                self.add_error("emails", _("Bitte geben Sie mindestens eine E-Mail-Adresse an."))
            if len(set(valid)) > 200:
                self.add_error("emails", _("Höchstens 200 Adressen auf einmal."))
            data["addresses"] = sorted(set(valid))
        elif data.get("channel") == "print" and not data.get("count"):
            self.add_error(
                "count", _("Bitte geben Sie an, wie viele Codes gedruckt werden sollen.")
            )
        return data
