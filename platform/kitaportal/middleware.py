"""Finds the tenant by host. Unknown, reserved, template and deactivated hosts get a German 404."""

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.shortcuts import render
from django.utils import translation
from django_tenants.middleware.main import TenantMainMiddleware

from integrations.sentry import set_tenant_tag


def tenant_not_found(request, hostname: str | None = None):
    translation.activate(translation.get_language_from_request(request) or "de")
    response = render(
        request,
        "errors/tenant_not_found.html",
        {"hostname": hostname, "base_domain": settings.BASE_DOMAIN},
        status=404,
    )
    return response


class TenantMiddleware(TenantMainMiddleware):
    @staticmethod
    def hostname_from_request(request):
        """The exact host (no port). Unlike django-tenants we don't strip "www.": it is a
        reserved name, and an operator who wants it adds a Domain row for it."""
        return request.get_host().split(":")[0].lower()

    def get_tenant(self, domain_model, hostname):
        tenant = super().get_tenant(domain_model, hostname)
        if not tenant.is_active or tenant.is_template:
            raise domain_model.DoesNotExist
        return tenant

    def no_tenant_found(self, request, hostname):
        connection.set_schema_to_public()
        return tenant_not_found(request, hostname)

    def process_request(self, request):
        try:
            request.get_host()
        except DisallowedHost:
            connection.set_schema_to_public()
            return tenant_not_found(request, None)
        response = super().process_request(request)
        if response is None:
            set_tenant_tag(request.tenant.slug or "platform", request.tenant.type or "platform")
        return response
