"""Finds the tenant by host. Unknown, reserved, template and deactivated hosts get a German 404.

The lookup is one query per request, as in django-tenants, but a plain one: the tenant's row
and the row versions (`xmin`) of it and its domain. A process keeps the Tenant object it built
for a host and reuses it while both row versions are unchanged, so a request does not pay for
compiling an ORM query and building two model objects; any change to the tenant or its domain
(deactivation, renaming, another tenant for the host) gives a new version and a fresh object.
"""

import copy

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
        tenant = lookup_tenant(domain_model, hostname)
        if tenant is None or not tenant.is_active or tenant.is_template:
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


# hostname -> (row versions of domain and tenant, the Tenant built from that row)
_known: dict[str, tuple[str, object]] = {}
MAX_KNOWN = 10_000
_lookup_sql: dict[str, tuple[str, list[str]]] = {}


def _lookup_statement(domain_model) -> tuple[str, list[str]]:
    key = domain_model._meta.label
    if key not in _lookup_sql:
        tenant_model = domain_model._meta.get_field("tenant").related_model
        quote = connection.ops.quote_name
        fields = tenant_model._meta.concrete_fields
        columns = ", ".join(f"t.{quote(field.column)}" for field in fields)
        _lookup_sql[key] = (
            f"SELECT {columns}, d.xmin::text || ':' || t.xmin::text"
            f" FROM public.{quote(domain_model._meta.db_table)} d"
            f" JOIN public.{quote(tenant_model._meta.db_table)} t ON t.id = d.tenant_id"
            " WHERE d.domain = %s",
            [field.attname for field in fields],
        )
    return _lookup_sql[key]


def lookup_tenant(domain_model, hostname: str):
    """The tenant of this exact host (one query), or None."""
    sql, attnames = _lookup_statement(domain_model)
    with connection.cursor() as cursor:
        cursor.execute(sql, [hostname])
        row = cursor.fetchone()
    if row is None:
        return None
    version = row[-1]
    known = _known.get(hostname)
    if known is not None and known[0] == version:
        return copy.copy(known[1])  # per request: the middleware sets attributes on it
    tenant_model = domain_model._meta.get_field("tenant").related_model
    tenant = tenant_model.from_db(connection.alias, attnames, row[:-1])
    if len(_known) >= MAX_KNOWN:
        _known.clear()
    _known[hostname] = (version, tenant)
    return copy.copy(tenant)
