from django.apps import AppConfig


class VspConfig(AppConfig):
    name = "vsp"
    verbose_name = "VSP platform"

    def ready(self) -> None:
        from vsp import checks  # noqa: F401  (registers the system checks)
