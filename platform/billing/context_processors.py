"""The billing banner for tenant staff (past due, suspended, cancelled)."""

from tenants.accounts.models import Role

from .models import SubscriptionState

NOTICE_STATES = (
    SubscriptionState.PAST_DUE,
    SubscriptionState.SUSPENDED,
    SubscriptionState.CANCELLED,
)


def billing(request):
    subscription = getattr(request, "subscription", None)
    user = getattr(request, "user", None)
    if (
        subscription is None
        or subscription.state not in NOTICE_STATES
        or not getattr(user, "is_authenticated", False)
        or user.role == Role.PARENT
    ):
        return {}
    return {
        "billing_notice": subscription,
        "billing_notice_admin": user.role == Role.TENANT_ADMIN,
    }
