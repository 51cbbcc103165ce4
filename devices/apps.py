from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = _("Edge devices")

    def ready(self) -> None:
        from devices import services

        # A device saved by staff (admin, API) may have a new name: signs of life must read it again.
        post_save.connect(services.forget_written_on_save, sender="devices.EdgeDevice", dispatch_uid="device-seen")
