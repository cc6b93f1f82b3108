from django.conf import settings


def portal(request):
    tenant = getattr(request, "tenant", None)
    return {
        "tenant": tenant if tenant is not None and tenant.schema_name != "public" else None,
        "demo_mode": settings.DEMO_MODE,
    }
