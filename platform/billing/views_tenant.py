"""Billing on a tenant's host: its admin's billing page, Stripe's customer portal, invoices
as XRechnung, data export after cancellation, support approvals. Tenant admins only (others:
404); every query is bound to request.tenant, so no tenant ever sees another's billing."""

from __future__ import annotations

import tempfile
from functools import wraps
from pathlib import Path

from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from integrations import stripe as stripe_api
from tenants.accounts.models import Role
from tenants.common.models import AuditEntry

from . import services, support
from .models import BillingEvent, Invoice, PaymentRoute, SubscriptionState, SupportAccessGrant
from .xrechnung import build_xrechnung


def tenant_admin_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.user.role != Role.TENANT_ADMIN:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _page(request, *, error: str | None = None, status: int = 200):
    tenant = request.tenant
    subscription = services.subscription_of(tenant)
    return render(
        request,
        "billing/tenant_settings.html",
        {
            "subscription": subscription,
            "events": BillingEvent.objects.filter(tenant_id=tenant.pk)[:50],
            "invoices": Invoice.objects.filter(tenant_id=tenant.pk)[:36],
            "grants": SupportAccessGrant.objects.filter(tenant_id=tenant.pk)[:10],
            "support_log": AuditEntry.objects.filter(action__startswith="support.")[:30],
            "now": timezone.now(),
            "error": error,
            "can_export": subscription is not None
            and subscription.state == SubscriptionState.CANCELLED,
            "xrechnung": subscription is not None
            and subscription.payment_route == PaymentRoute.INVOICE,
        },
        status=status,
    )


@require_GET
@tenant_admin_required
def settings_page(request):
    return _page(request)


@require_POST
@tenant_admin_required
def customer_portal(request):
    return_url = request.build_absolute_uri(reverse("billing-tenant:settings"))
    try:
        url = services.open_customer_portal(request.user, request.tenant, return_url=return_url)
    except ValidationError as exc:
        return _page(request, error=" ".join(exc.messages), status=400)
    except stripe_api.StripeError:
        return _page(
            request,
            error=_("Der Zahlungsdienst ist gerade nicht erreichbar. Bitte später erneut."),
            status=503,
        )
    return redirect(url)


@require_GET
@tenant_admin_required
def invoice_xrechnung(request, pk: int):
    subscription = services.subscription_of(request.tenant)
    if subscription is None or subscription.payment_route != PaymentRoute.INVOICE:
        raise Http404
    invoice = get_object_or_404(Invoice, pk=pk, tenant_id=request.tenant.pk)
    xml = (
        invoice.xrechnung.encode("utf-8")
        if invoice.xrechnung
        else build_xrechnung(invoice, subscription)
    )
    response = HttpResponse(xml, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="xrechnung-{invoice.number}.xml"'
    return response


@require_POST
@tenant_admin_required
def export_data(request):
    from tenants.backup import export_tenant

    subscription = services.subscription_of(request.tenant)
    if subscription is None or subscription.state != SubscriptionState.CANCELLED:
        raise Http404
    tenant = request.tenant
    folder = Path(tempfile.mkdtemp(prefix="kitaportal-export-"))
    target = folder / f"{tenant.slug}-export.tar.gz"
    try:
        export_tenant(request.user, tenant.slug, target)
    finally:
        connection.set_tenant(tenant)
    return FileResponse(target.open("rb"), as_attachment=True, filename=target.name)


@require_POST
@tenant_admin_required
def support_grant(request):
    try:
        support.grant_support_access(
            request.user, request.tenant, hours=int(request.POST.get("hours") or 0)
        )
    except (ValueError, ValidationError) as exc:
        messages = exc.messages if isinstance(exc, ValidationError) else [_("Ungültige Dauer.")]
        return _page(request, error=" ".join(messages), status=400)
    return redirect("billing-tenant:settings")


@require_POST
@tenant_admin_required
def support_revoke(request, pk: int):
    try:
        support.revoke_support_access(request.user, request.tenant, pk)
    except ValidationError:
        raise Http404 from None
    return redirect("billing-tenant:settings")


@require_GET
def support_enter(request, token: str):
    try:
        user, grant = support.enter_support_session(request.tenant, token)
    except ValidationError as exc:
        return render(
            request, "billing/support_invalid.html", {"error": exc.messages[0]}, status=403
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.set_expiry(grant.expires_at)
    return redirect("/")
