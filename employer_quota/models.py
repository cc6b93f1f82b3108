"""The employer's own schema: its profile and HR contacts.

HR contacts are employees' business contact data; they are deleted when removed from the
profile or when the employer leaves the platform.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EmployerProfile(models.Model):
    """One row per employer schema."""

    name = models.CharField(_("Name"), max_length=200)
    program_name = models.CharField(_("Programmname"), max_length=120, blank=True)
    description = models.TextField(_("Beschreibung"), blank=True)
    employee_count = models.PositiveIntegerField(_("Beschäftigte"), null=True, blank=True)
    street = models.CharField(_("Straße und Hausnummer"), max_length=200, blank=True)
    postcode = models.CharField(_("PLZ"), max_length=5, blank=True)
    city = models.CharField(_("Ort"), max_length=100, blank=True)
    website = models.URLField(_("Webseite"), blank=True)

    class Meta:
        verbose_name = _("Arbeitgeberprofil")
        verbose_name_plural = _("Arbeitgeberprofile")

    def __str__(self) -> str:
        return self.name


class HRContact(models.Model):
    profile = models.ForeignKey(
        EmployerProfile, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("Profil")
    )
    name = models.CharField(_("Name"), max_length=120)
    function = models.CharField(_("Funktion"), max_length=120, blank=True)
    email = models.EmailField(_("E-Mail"))
    phone = models.CharField(_("Telefon"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("Ansprechperson Personal")
        verbose_name_plural = _("Ansprechpersonen Personal")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
