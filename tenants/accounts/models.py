"""Users live in every schema: a login exists only on the tenant (or platform) it was made on."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PLATFORM_ADMIN = "platform_admin", _("Plattform-Administration")
    TENANT_ADMIN = "tenant_admin", _("Mandanten-Administration")
    YOUTH_OFFICE = "youth_office", _("Jugendamt")
    CARRIER_STAFF = "carrier_staff", _("Träger")
    FACILITY_STAFF = "facility_staff", _("Kita-Leitung")
    FACHBERATUNG = "fachberatung", _("Fachberatung Kindertagespflege")
    HR = "hr", _("Personalabteilung")
    PARENT = "parent", _("Eltern")


class EmailUserManager(UserManager):
    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email or username).lower()
        return super()._create_user(email, email, password, **extra_fields)

    def create_user(self, username=None, email=None, password=None, **extra_fields):
        return super().create_user(username or email, email or username, password, **extra_fields)

    def create_superuser(self, username=None, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.PLATFORM_ADMIN)
        return super().create_superuser(
            username or email, email or username, password, **extra_fields
        )


class User(AbstractUser):
    """Email is the login. Personal data: email and name; deleted with the account."""

    email = models.EmailField(_("E-Mail-Adresse"), unique=True)
    role = models.CharField(_("Rolle"), max_length=30, choices=Role.choices, default=Role.PARENT)
    language = models.CharField(
        _("Sprache"), max_length=5, choices=[("de", "Deutsch"), ("en", "English")], default="de"
    )

    objects = EmailUserManager()

    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("Benutzer")
        verbose_name_plural = _("Benutzer")
