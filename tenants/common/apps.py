from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommonConfig(AppConfig):
    name = "tenants.common"
    label = "tenant_common"
    verbose_name = _("Protokoll und Postausgang")
