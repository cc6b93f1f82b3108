"""Plans, subscriptions, sign-up applications and billing events (public schema).

Personal data: `SignupApplication.email` (the contact who becomes the first admin) until the
tenant is ready — then it is blanked (the address lives on in the tenant's own user table);
unfinished applications are deleted after 30 days (`services.purge_stale_applications`).
Everything else holds organisation data, ids, states and money only. Billing records are kept
for the statutory 10 years (§ 147 AO) even after a tenant's data is deleted.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tenants.models import Tenant, TenantType


class PlanBasis(models.TextChoices):
    FACILITIES = "facilities", _("nach Zahl der Kitas")
    EMPLOYEES = "employees", _("nach Beschäftigten")
    RESERVED_PLACES = "reserved_places", _("nach Belegplätzen")


class Plan(models.Model):
    code = models.SlugField(_("Kennung"), max_length=40, unique=True)
    tenant_type = models.CharField(
        _("für"),
        max_length=20,
        choices=[(TenantType.MUNICIPALITY.value, TenantType.MUNICIPALITY.label)]
        + [(TenantType.EMPLOYER.value, TenantType.EMPLOYER.label)],
    )
    basis = models.CharField(_("Grundlage"), max_length=20, choices=PlanBasis.choices)
    up_to = models.PositiveIntegerField(_("bis (Anzahl)"), null=True, blank=True)
    monthly_price_cents = models.PositiveIntegerField(_("Preis pro Monat (netto, Cent)"))
    trial_days = models.PositiveSmallIntegerField(_("Testzeitraum (Tage)"), default=30)
    stripe_price_id = models.CharField(_("Stripe-Preis"), max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(_("Reihenfolge"), default=0)
    is_active = models.BooleanField(_("buchbar"), default=True)

    class Meta:
        verbose_name = _("Tarif")
        verbose_name_plural = _("Tarife")
        ordering = ["tenant_type", "position"]

    def __str__(self) -> str:
        return f"{self.get_tenant_type_display()}: {self.label}"

    @property
    def label(self) -> str:
        if self.basis == PlanBasis.FACILITIES:
            if self.up_to is None:
                return str(_("beliebig viele Kitas"))
            return ngettext("bis %(n)d Kita", "bis %(n)d Kitas", self.up_to) % {"n": self.up_to}
        if self.basis == PlanBasis.EMPLOYEES:
            if self.up_to is None:
                return str(_("beliebig viele Beschäftigte"))
            return ngettext("bis %(n)d Beschäftigte", "bis %(n)d Beschäftigte", self.up_to) % {
                "n": self.up_to
            }
        if self.up_to is None:
            return str(_("beliebig viele Belegplätze"))
        return ngettext("bis %(n)d Belegplatz", "bis %(n)d Belegplätze", self.up_to) % {
            "n": self.up_to
        }

    @property
    def monthly_price(self) -> str:
        return (
            f"{self.monthly_price_cents / 100:,.2f}".replace(",", "X").replace(".", ",")
        ).replace("X", ".")


class PaymentRoute(models.TextChoices):
    CHECKOUT = "checkout", _("Karte oder SEPA-Lastschrift")
    INVOICE = "invoice", _("Rechnung (öffentliche Auftraggeber)")


class SignupApplication(models.Model):
    """One organisation's way from "sign up" to a ready tenant."""

    class Status(models.TextChoices):
        STARTED = "started", _("E-Mail-Bestätigung ausstehend")
        VERIFIED = "verified", _("E-Mail bestätigt")
        AWAITING_PAYMENT = "awaiting_payment", _("Zahlung ausstehend")
        CONFIRMED = "confirmed", _("Zahlung bestätigt")
        PROVISIONING = "provisioning", _("Portal wird eingerichtet")
        READY = "ready", _("bereit")
        FAILED = "failed", _("Einrichtung wird wiederholt")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(_("angelegt"), auto_now_add=True)
    updated_at = models.DateTimeField(_("geändert"), auto_now=True)
    tenant_type = models.CharField(
        _("Art"),
        max_length=20,
        choices=[(TenantType.MUNICIPALITY.value, TenantType.MUNICIPALITY.label)]
        + [(TenantType.EMPLOYER.value, TenantType.EMPLOYER.label)],
    )
    organisation_name = models.CharField(_("Name der Organisation"), max_length=200)
    email = models.EmailField(_("E-Mail der Ansprechperson"), blank=True)
    language = models.CharField(_("Sprache"), max_length=5, default="de")
    email_verified_at = models.DateTimeField(_("E-Mail bestätigt am"), null=True, blank=True)
    slug = models.SlugField(_("Subdomain"), max_length=50, blank=True)
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("Tarif")
    )
    payment_route = models.CharField(
        _("Zahlungsweg"), max_length=20, choices=PaymentRoute.choices, blank=True
    )
    leitweg_id = models.CharField(_("Leitweg-ID"), max_length=46, blank=True)
    billing_street = models.CharField(_("Straße und Hausnummer"), max_length=200, blank=True)
    billing_postcode = models.CharField(_("PLZ"), max_length=5, blank=True)
    billing_city = models.CharField(_("Ort"), max_length=100, blank=True)
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_checkout_session_id = models.CharField(max_length=100, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        _("Stand"), max_length=20, choices=Status.choices, default=Status.STARTED
    )
    confirmed_at = models.DateTimeField(_("Zahlung bestätigt am"), null=True, blank=True)
    ready_at = models.DateTimeField(_("bereit seit"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("Einrichtungsversuche"), default=0)
    last_error = models.CharField(_("letzter Fehler"), max_length=200, blank=True)
    tenant = models.OneToOneField(
        "tenants.Tenant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signup",
        verbose_name=_("Mandant"),
    )

    class Meta:
        verbose_name = _("Anmeldung")
        verbose_name_plural = _("Anmeldungen")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"],
                condition=~models.Q(slug="") & ~models.Q(status="ready"),
                name="signup_open_slug_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation_name} ({self.get_status_display()})"

    @property
    def provisioning_seconds(self) -> float | None:
        if self.confirmed_at and self.ready_at:
            return (self.ready_at - self.confirmed_at).total_seconds()
        return None


class SubscriptionState(models.TextChoices):
    TRIAL = "trial", _("Testphase")
    ACTIVE = "active", _("aktiv")
    PAST_DUE = "past_due", _("Zahlung überfällig")
    SUSPENDED = "suspended", _("gesperrt (nur lesen)")
    CANCELLED = "cancelled", _("gekündigt")


# Where staff may not write (parents still read their data).
READ_ONLY_STATES = (SubscriptionState.SUSPENDED, SubscriptionState.CANCELLED)


class Subscription(models.Model):
    """A tenant's plan and billing state (organisation data, ids and money only)."""

    tenant = models.OneToOneField(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        related_name="subscription",
        verbose_name=_("Mandant"),
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, verbose_name=_("Tarif"))
    state = models.CharField(
        _("Stand"), max_length=20, choices=SubscriptionState.choices, default="trial"
    )
    payment_route = models.CharField(_("Zahlungsweg"), max_length=20, choices=PaymentRoute.choices)
    stripe_customer_id = models.CharField(max_length=100, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True, db_index=True)
    leitweg_id = models.CharField(_("Leitweg-ID"), max_length=46, blank=True)
    billing_street = models.CharField(_("Straße und Hausnummer"), max_length=200, blank=True)
    billing_postcode = models.CharField(_("PLZ"), max_length=5, blank=True)
    billing_city = models.CharField(_("Ort"), max_length=100, blank=True)
    trial_ends_at = models.DateTimeField(_("Testphase endet"), null=True, blank=True)
    state_changed_at = models.DateTimeField(_("Stand seit"), default=timezone.now)
    # `created` of the newest Stripe event applied to the state: older events don't undo it.
    state_event_created = models.BigIntegerField(default=0)
    cancelled_at = models.DateTimeField(_("gekündigt am"), null=True, blank=True)
    retention_until = models.DateTimeField(_("Daten werden gelöscht ab"), null=True, blank=True)

    class Meta:
        verbose_name = _("Abonnement")
        verbose_name_plural = _("Abonnements")

    def __str__(self) -> str:
        return f"{self.tenant} – {self.get_state_display()}"

    @property
    def is_read_only(self) -> bool:
        return self.state in READ_ONLY_STATES


class WebhookEvent(models.Model):
    """Each Stripe event id once: the unique id makes a redelivered event a no-op."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=80)
    created = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=40, blank=True)
    # The subscription an event is about and its Stripe status (no customer data), so an event
    # that arrives before its tenant exists is applied once the tenant is provisioned.
    stripe_subscription_id = models.CharField(max_length=100, blank=True, db_index=True)
    stripe_status = models.CharField(max_length=30, blank=True)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("Stripe-Ereignis")
        verbose_name_plural = _("Stripe-Ereignisse")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class BillingEvent(models.Model):
    """The per-tenant billing timeline the operator and the tenant admin see."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="billing_events"
    )
    created_at = models.DateTimeField(_("Zeitpunkt"), default=timezone.now, db_index=True)
    kind = models.CharField(_("Ereignis"), max_length=60)
    state_from = models.CharField(_("von"), max_length=20, blank=True)
    state_to = models.CharField(_("nach"), max_length=20, blank=True)
    amount_cents = models.IntegerField(_("Betrag (Cent)"), null=True, blank=True)
    reference = models.CharField(_("Bezug"), max_length=100, blank=True)
    source = models.CharField(_("Quelle"), max_length=20, default="stripe")

    class Meta:
        verbose_name = _("Abrechnungsereignis")
        verbose_name_plural = _("Abrechnungsereignisse")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.kind}"


class Invoice(models.Model):
    """An invoice Stripe issued to a tenant (money and ids); source of the XRechnung."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="invoices")
    stripe_invoice_id = models.CharField(max_length=100, unique=True)
    number = models.CharField(_("Rechnungsnummer"), max_length=60)
    issued_at = models.DateTimeField(_("Rechnungsdatum"))
    due_date = models.DateField(_("fällig am"), null=True, blank=True)
    period_start = models.DateField(_("Leistungszeitraum von"), null=True, blank=True)
    period_end = models.DateField(_("Leistungszeitraum bis"), null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    net_cents = models.IntegerField(_("netto (Cent)"))
    tax_cents = models.IntegerField(_("Umsatzsteuer (Cent)"))
    total_cents = models.IntegerField(_("brutto (Cent)"))
    status = models.CharField(_("Status"), max_length=20)
    collection_method = models.CharField(max_length=30)
    lines = models.JSONField(default=list)
    # XRechnung (CII XML) of invoice-paying tenants, produced when Stripe finalises the invoice
    xrechnung = models.TextField(_("XRechnung"), blank=True)

    class Meta:
        verbose_name = _("Rechnung")
        verbose_name_plural = _("Rechnungen")
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return self.number

    @property
    def total_display(self) -> str:
        return (
            f"{self.total_cents / 100:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        )


class SupportAccessGrant(models.Model):
    """A tenant admin's time-limited approval for platform support to enter the tenant."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="support_grants"
    )
    approved_by_id = models.BigIntegerField(_("freigegeben von (Benutzer-ID im Mandanten)"))
    approved_at = models.DateTimeField(_("freigegeben am"), default=timezone.now)
    expires_at = models.DateTimeField(_("gültig bis"))
    revoked_at = models.DateTimeField(_("widerrufen am"), null=True, blank=True)

    class Meta:
        verbose_name = _("Support-Freigabe")
        verbose_name_plural = _("Support-Freigaben")
        ordering = ["-approved_at"]

    def __str__(self) -> str:
        return f"{self.tenant_id} bis {self.expires_at:%Y-%m-%d %H:%M}"

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


def retention_after(moment):
    return moment + timedelta(days=settings.BILLING_RETENTION_DAYS)


class TenantAccount(Tenant):
    """The tenant registry seen by the platform operator: plan, state, usage, billing."""

    class Meta:
        proxy = True
        verbose_name = _("Mandant (Abrechnung)")
        verbose_name_plural = _("Mandanten (Abrechnung)")
