"""Sign-up forms: they only parse input; billing.services validates and writes."""

from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantType

from .models import PaymentRoute


class StartForm(forms.Form):
    tenant_type = forms.ChoiceField(
        label=_("Sie melden an"),
        choices=[
            (TenantType.MUNICIPALITY.value, _("eine Kommune (Kita-Portal für Familien)")),
            (TenantType.EMPLOYER.value, _("einen Arbeitgeber (Belegplätze, Bedarfsumfragen)")),
        ],
        widget=forms.RadioSelect,
    )
    organisation_name = forms.CharField(
        label=_("Name der Organisation"), max_length=200, help_text=_("z. B. Stadt Herne")
    )
    email = forms.EmailField(
        label=_("Ihre dienstliche E-Mail-Adresse"),
        help_text=_("Sie erhalten einen Bestätigungslink und werden die erste Administration."),
    )


class SubdomainForm(forms.Form):
    slug = forms.CharField(
        label=_("Subdomain"),
        max_length=50,
        help_text=_("Kleinbuchstaben, Ziffern und Bindestriche, z. B. herne"),
    )


class PlanForm(forms.Form):
    plan = forms.ChoiceField(label=_("Tarif"), widget=forms.RadioSelect)
    payment_route = forms.ChoiceField(
        label=_("Zahlungsweg"), choices=PaymentRoute.choices, widget=forms.RadioSelect
    )
    leitweg_id = forms.CharField(
        label=_("Leitweg-ID (nur bei Zahlung per Rechnung)"),
        required=False,
        max_length=46,
        help_text=_("Für die E-Rechnung (XRechnung) an öffentliche Auftraggeber."),
    )
    billing_street = forms.CharField(
        label=_("Rechnungsanschrift: Straße und Hausnummer"), required=False, max_length=200
    )
    billing_postcode = forms.CharField(label=_("PLZ"), required=False, max_length=5)
    billing_city = forms.CharField(label=_("Ort"), required=False, max_length=100)

    def __init__(self, *args, plans=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [
            (plan.code, f"{plan.label} – {plan.monthly_price} € / Monat") for plan in plans
        ]
