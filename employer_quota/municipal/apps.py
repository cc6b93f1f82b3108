from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MunicipalConfig(AppConfig):
    name = "employer_quota.municipal"
    label = "employer_municipal"
    verbose_name = _("Belegplätze (Kommune)")
    default_auto_field = "django.db.models.BigAutoField"
