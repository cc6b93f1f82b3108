"""Tenant lifecycle: provision (a copy of the type's template), list, deactivate.

Every function validates first and writes in one transaction, so a failure leaves no
tenant row, domain or schema behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.clone import CloneSchema
from django_tenants.utils import get_tenant_base_schema, schema_exists

from tenants.common.services import record_audit

from .blueprint import provision_schema
from .models import NEW_TENANT_TYPES, Domain, Tenant

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
# Schema names the test runner, PostgreSQL or the templates use.
FORBIDDEN_SCHEMAS = {"public", "test", "fast_test", "information_schema"}


class ProvisioningError(ValueError):
    """Bad input for a tenant operation; the message is meant for the person who typed it."""


@dataclass(frozen=True)
class TemplateSpec:
    tenant_type: str
    schema_name: str

    @property
    def slug(self) -> str:
        return self.schema_name.replace("_", "-")


def template_specs() -> list[TemplateSpec]:
    return [
        TemplateSpec(tenant_type, get_tenant_base_schema(tenant_type))
        for tenant_type in NEW_TENANT_TYPES
    ]


def schema_name_for(slug: str) -> str:
    return slug.replace("-", "_")


def validate_new_tenant(tenant_type: str, slug: str, name: str) -> tuple[str, str, str]:
    """Return the cleaned (type, slug, name) or raise ProvisioningError with a clear message."""
    if tenant_type not in NEW_TENANT_TYPES:
        raise ProvisioningError(
            _("Unbekannte Mandantenart „%(type)s“. Erlaubt sind: %(allowed)s.")
            % {"type": tenant_type, "allowed": ", ".join(NEW_TENANT_TYPES)}
        )
    slug = (slug or "").strip()
    name = (name or "").strip()
    if not SLUG_RE.match(slug) or "--" in slug:
        raise ProvisioningError(
            _(
                "Ungültiger Kurzname „%(slug)s“: erlaubt sind Kleinbuchstaben, Ziffern und "
                "Bindestriche (nicht am Anfang oder Ende), höchstens 50 Zeichen."
            )
            % {"slug": slug}
        )
    schema_name = schema_name_for(slug)
    template_schemas = {spec.schema_name for spec in template_specs()}
    if (
        slug in settings.RESERVED_SLUGS
        or schema_name in FORBIDDEN_SCHEMAS
        or schema_name in template_schemas
        or schema_name.startswith("pg_")
    ):
        raise ProvisioningError(
            _("Der Kurzname „%(slug)s“ ist reserviert und kann nicht vergeben werden.")
            % {"slug": slug}
        )
    if not name:
        raise ProvisioningError(_("Bitte geben Sie einen Namen an."))
    if len(name) > 200:
        raise ProvisioningError(_("Der Name ist zu lang (höchstens 200 Zeichen)."))
    hostname = f"{slug}.{settings.BASE_DOMAIN}"
    if (
        Tenant.objects.filter(slug=slug).exists()
        or Tenant.objects.filter(schema_name__iexact=schema_name).exists()
        or Domain.objects.filter(domain=hostname).exists()
        or schema_exists(schema_name)
    ):
        raise ProvisioningError(_("Der Kurzname „%(slug)s“ ist bereits vergeben.") % {"slug": slug})
    return tenant_type, slug, name


def provision_tenant(actor, *, tenant_type: str, slug: str, name: str) -> Tenant:
    """Create a tenant: registry row, domain and a schema cloned from its type's template."""
    tenant_type, slug, name = validate_new_tenant(tenant_type, slug, name)
    base_schema = get_tenant_base_schema(tenant_type)
    connection.set_schema_to_public()
    if not schema_exists(base_schema):
        raise ProvisioningError(
            _("Die Vorlage für %(type)s fehlt. Bitte zuerst „kitaportal migrate“ ausführen.")
            % {"type": tenant_type}
        )
    with transaction.atomic():
        tenant = Tenant(schema_name=schema_name_for(slug), slug=slug, name=name, type=tenant_type)
        tenant.save()
        Domain.objects.create(domain=tenant.hostname, tenant=tenant, is_primary=True)
        # The template's compiled blueprint (structure + its rows: migration records, content
        # types, permissions) in one round trip; clone_schema when the template holds
        # something a blueprint does not cover. No migrate run is needed afterwards either way.
        if not provision_schema(base_schema, tenant.schema_name):
            CloneSchema().clone_schema(
                base_schema, tenant.schema_name, "DATA", set_connection=False
            )
        record_audit(actor, "tenant.provisioned", tenant, tenant_type=tenant_type)
    return tenant


def deactivate_tenant(actor, slug: str) -> Tenant:
    """Switch a tenant's portal off. Nothing is deleted; the schema stays for export."""
    tenant = Tenant.objects.filter(slug=slug, is_template=False).first()
    if tenant is None:
        raise ProvisioningError(_("Es gibt keinen Mandanten „%(slug)s“.") % {"slug": slug})
    if not tenant.is_active:
        raise ProvisioningError(
            _("Der Mandant „%(slug)s“ ist bereits deaktiviert.") % {"slug": slug}
        )
    with transaction.atomic():
        tenant.is_active = False
        tenant.deactivated_at = timezone.now()
        tenant.save(update_fields=["is_active", "deactivated_at"])
        record_audit(actor, "tenant.deactivated", tenant)
    return tenant


def list_tenants(include_inactive: bool = True):
    tenants = Tenant.objects.filter(is_template=False).exclude(schema_name="public")
    if not include_inactive:
        tenants = tenants.filter(is_active=True)
    return tenants.order_by("type", "slug")


def ensure_public_tenant() -> Tenant:
    """The platform itself: the public schema, served on BASE_DOMAIN."""
    tenant = Tenant.objects.filter(schema_name="public").first()
    if tenant is None:
        tenant = Tenant(schema_name="public", slug="platform", name="Kitaportal", type="public")
        tenant.save()
    Domain.objects.get_or_create(
        domain=settings.BASE_DOMAIN, defaults={"tenant": tenant, "is_primary": True}
    )
    return tenant


def ensure_templates(verbosity: int = 0) -> list[Tenant]:
    """Create the per-type template schemas (migrated, empty) that new tenants are cloned from."""
    templates = []
    for spec in template_specs():
        tenant = Tenant.objects.filter(schema_name=spec.schema_name).first()
        if tenant is None:
            tenant = Tenant(
                schema_name=spec.schema_name,
                slug=spec.slug,
                name=f"Vorlage {spec.tenant_type}",
                type=spec.tenant_type,
                is_template=True,
                is_active=False,
            )
            tenant.save()
        if not schema_exists(spec.schema_name):
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{spec.schema_name}"')
            call_command(
                "migrate_schemas",
                schema_name=spec.schema_name,
                interactive=False,
                verbosity=verbosity,
                skip_checks=True,
            )
            connection.set_schema_to_public()
        templates.append(tenant)
    return templates
