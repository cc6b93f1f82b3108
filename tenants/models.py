"""The tenant registry (public schema). Holds ids, names of organisations and domains only."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin


class TenantType(models.TextChoices):
    MUNICIPALITY = "municipality", _("Kommune")
    EMPLOYER = "employer", _("Arbeitgeber")
    PLATFORM = "public", _("Plattform")


# The types a new tenant may have (the platform itself exists once).
NEW_TENANT_TYPES = (TenantType.MUNICIPALITY.value, TenantType.EMPLOYER.value)


class Tenant(TenantMixin):
    """A municipality or an employer, each with its own PostgreSQL schema."""

    slug = models.SlugField(_("Kurzname"), max_length=50, unique=True)
    name = models.CharField(_("Name"), max_length=200)
    type = models.CharField(_("Art"), max_length=20, choices=TenantType.choices)
    is_active = models.BooleanField(_("aktiv"), default=True)
    is_template = models.BooleanField(
        _("Vorlage"),
        default=False,
        help_text=_("Leeres Schema, aus dem neue Mandanten geklont werden."),
    )
    created_at = models.DateTimeField(_("angelegt am"), auto_now_add=True)
    deactivated_at = models.DateTimeField(_("deaktiviert am"), null=True, blank=True)

    # Provisioning is done by tenants.services (clone + domain, in one transaction).
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        verbose_name = _("Mandant")
        verbose_name_plural = _("Mandanten")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def hostname(self) -> str:
        return f"{self.slug}.{settings.BASE_DOMAIN}"

    @property
    def portal_url(self) -> str:
        port = f":{settings.PORTAL_PORT}" if settings.PORTAL_PORT else ""
        return f"{settings.PORTAL_SCHEME}://{self.hostname}{port}/"


class Domain(DomainMixin):
    class Meta:
        verbose_name = _("Domain")
        verbose_name_plural = _("Domains")


class SchemaBlueprint(models.Model):
    """A template schema compiled to one SQL script (tenants.blueprint), kept so that every
    process provisions from it without reading the catalog again. Holds DDL only."""

    template = models.CharField(_("Vorlage"), max_length=63, unique=True)
    state = models.CharField(_("Migrationsstand (MD5)"), max_length=32)
    script = models.TextField(_("SQL"))
    compiled_at = models.DateTimeField(_("erstellt am"), auto_now=True)

    class Meta:
        verbose_name = _("Schema-Bauplan")
        verbose_name_plural = _("Schema-Baupläne")

    def __str__(self) -> str:
        return f"{self.template} @ {self.state[:8]}"
