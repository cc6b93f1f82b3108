from django.conf import settings
from django.shortcuts import render

from .models import Tenant


def landing(request):
    tenants = Tenant.objects.filter(is_active=True, is_template=False).exclude(schema_name="public")
    return render(
        request,
        "tenants/landing.html",
        {"portals": tenants, "base_domain": settings.BASE_DOMAIN},
    )
