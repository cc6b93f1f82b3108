"""The portal's own texts and logo (onboarding), loaded only when a template uses them."""

from django.utils.functional import SimpleLazyObject


def _load(tenant):
    from .models import PortalSetup

    return PortalSetup.objects.first()


def portal_setup(request):
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.type != "municipality":
        return {}
    return {"portal_setup": SimpleLazyObject(lambda: _load(tenant))}
