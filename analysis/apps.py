from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = _("LLM analysis")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from alarms.signals import alarm_reporting
        from analysis import checks, services  # noqa: F401  (checks registers itself)
        from analysis.models import AnalysisRule

        alarm_reporting.connect(services.on_alarm_reporting, dispatch_uid="analysis.request")
        post_save.connect(services.forget_rules, sender=AnalysisRule, dispatch_uid="analysis.rules-saved")
        post_delete.connect(services.forget_rules, sender=AnalysisRule, dispatch_uid="analysis.rules-deleted")
