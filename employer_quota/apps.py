from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmployerQuotaConfig(AppConfig):
    name = "employer_quota"
    verbose_name = _("Arbeitgeber")
