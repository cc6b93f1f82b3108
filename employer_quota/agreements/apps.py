from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgreementsConfig(AppConfig):
    name = "employer_quota.agreements"
    label = "employer_agreements"
    verbose_name = _("Belegplatz-Vereinbarungen")
    default_auto_field = "django.db.models.BigAutoField"
