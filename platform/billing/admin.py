"""Platform operator admin: tenants with type, plan, state and usage; billing timeline;
support access only with the tenant admin's approval (billing.support)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from . import support
from .models import (
    BillingEvent,
    Invoice,
    Plan,
    SignupApplication,
    SupportAccessGrant,
    TenantAccount,
    WebhookEvent,
)
from .usage import usage_of


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BillingEventInline(ReadOnlyInline):
    model = BillingEvent
    fields = ["created_at", "kind", "state_from", "state_to", "amount_cents", "reference", "source"]
    readonly_fields = fields
    verbose_name_plural = _("Verlauf der Abrechnung")


class InvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = ["number", "issued_at", "due_date", "total_cents", "status", "collection_method"]
    readonly_fields = fields


class SupportGrantInline(ReadOnlyInline):
    model = SupportAccessGrant
    fields = ["approved_at", "expires_at", "revoked_at"]
    readonly_fields = fields


@admin.register(TenantAccount)
class TenantAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "type", "plan", "state", "usage", "is_active"]
    list_filter = ["type", "is_active", "subscription__state"]
    search_fields = ["name", "slug"]
    fields = ["name", "slug", "type", "is_active", "plan", "state", "usage"]
    readonly_fields = fields
    inlines = [BillingEventInline, InvoiceInline, SupportGrantInline]
    actions = ["start_support"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(is_template=False)
            .exclude(schema_name="public")
            .select_related("subscription__plan")
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Tarif"))
    def plan(self, obj):
        subscription = getattr(obj, "subscription", None)
        return subscription.plan.label if subscription else "–"

    @admin.display(description=_("Stand"))
    def state(self, obj):
        subscription = getattr(obj, "subscription", None)
        return subscription.get_state_display() if subscription else _("ohne Abonnement")

    @admin.display(description=_("Nutzung"))
    def usage(self, obj):
        labels = {
            "facilities": _("Kitas"),
            "applications_this_year": _("Voranmeldungen dieses Jahr"),
            "reserved_places": _("Belegplätze"),
            "survey_answers": _("Umfrage-Antworten"),
        }
        return ", ".join(
            f"{labels[key]}: {'–' if value is None else value}"
            for key, value in usage_of(obj).items()
        )

    @admin.action(description=_("Support-Sitzung starten (nur mit Freigabe des Mandanten)"))
    def start_support(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Bitte genau einen Mandanten wählen."), messages.ERROR)
            return None
        try:
            link = support.start_support_session(request.user, queryset.get())
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None
        return redirect(link)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["code", "tenant_type", "basis", "up_to", "monthly_price_cents", "trial_days"]
    readonly_fields = ["stripe_price_id"]


@admin.register(SignupApplication)
class SignupApplicationAdmin(admin.ModelAdmin):
    list_display = ["organisation_name", "tenant_type", "slug", "plan", "status", "created_at"]
    list_filter = ["status", "tenant_type"]
    exclude = ["email"]
    readonly_fields = [f.name for f in SignupApplication._meta.fields if f.name != "email"]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "type", "created", "received_at", "outcome", "tenant"]
    list_filter = ["type", "outcome"]
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]

    def has_add_permission(self, request):
        return False
