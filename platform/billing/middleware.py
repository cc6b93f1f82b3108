"""Subscription state on tenant hosts: read-only staff when suspended or cancelled.

Runs after authentication. Parents (and anonymous visitors, e.g. a login) are never blocked:
a suspended portal keeps every parent's data readable. Staff may still log out, open the
billing page, Stripe's customer portal (to pay) and the data export."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from tenants.accounts.models import Role

from .services import subscription_of

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class SubscriptionStateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = getattr(request, "tenant", None)
        if tenant is not None and tenant.schema_name != "public":
            # looked up only when needed: never on a parent's or anonymous request
            if request.method not in SAFE_METHODS and _is_staff(request.user):
                subscription = subscription_for_request(request)
                if (
                    subscription is not None
                    and subscription.is_read_only
                    and not _always_allowed(request.path)
                ):
                    return render(
                        request,
                        "billing/read_only.html",
                        {"subscription": subscription},
                        status=403,
                    )
        return self.get_response(request)


def subscription_for_request(request):
    """The tenant's subscription, read at most once per request."""
    if not hasattr(request, "_billing_subscription"):
        tenant = getattr(request, "tenant", None)
        request._billing_subscription = (
            subscription_of(tenant)
            if tenant is not None and tenant.schema_name != "public"
            else None
        )
    return request._billing_subscription


def _is_staff(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.role != Role.PARENT


def _always_allowed(path: str) -> bool:
    allowed = (reverse("accounts:logout"), "/verwaltung/abrechnung/")
    return any(path.startswith(prefix) for prefix in allowed)
