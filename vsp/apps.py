from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VspConfig(AppConfig):
    name = "vsp"
    verbose_name = _("VSP platform")

    def ready(self) -> None:
        from vsp import checks  # noqa: F401  (registers the system checks)
