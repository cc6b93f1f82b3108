"""The billing banner for tenant staff (past due, suspended, cancelled)."""

from tenants.accounts.models import Role

from .middleware import subscription_for_request
from .models import SubscriptionState

NOTICE_STATES = (
    SubscriptionState.PAST_DUE,
    SubscriptionState.SUSPENDED,
    SubscriptionState.CANCELLED,
)


def billing(request):
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False) or user.role == Role.PARENT:
        return {}  # no lookup for parents and visitors (the portal's hot path)
    subscription = subscription_for_request(request)
    if subscription is None or subscription.state not in NOTICE_STATES:
        return {}
    return {
        "billing_notice": subscription,
        "billing_notice_admin": user.role == Role.TENANT_ADMIN,
    }
