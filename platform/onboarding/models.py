"""A municipality portal's texts, logo and deadlines (municipality schema, one row).

No personal data."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PortalSetup(models.Model):
    welcome_text = models.TextField(_("Begrüßungstext (Deutsch)"), blank=True, max_length=2000)
    welcome_text_en = models.TextField(_("Begrüßungstext (Englisch)"), blank=True, max_length=2000)
    logo = models.ImageField(_("Logo"), upload_to="portal-logos/", blank=True)
    logo_alt = models.CharField(_("Bildbeschreibung des Logos"), max_length=200, blank=True)
    application_deadline = models.DateField(
        _("Anmeldeschluss für die Hauptvergabe"), null=True, blank=True
    )
    offers_from = models.DateField(_("Zusagen werden verschickt ab"), null=True, blank=True)
    rules_confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("Portal-Einrichtung")
        verbose_name_plural = _("Portal-Einrichtung")

    def __str__(self) -> str:
        return str(_("Portal-Einrichtung"))

    @classmethod
    def current(cls) -> PortalSetup:
        row = cls.objects.first()
        return row if row is not None else cls.objects.create()
