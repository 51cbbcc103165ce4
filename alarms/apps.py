from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AlarmsConfig(AppConfig):
    name = "alarms"
    verbose_name = _("Alarms")

    def ready(self) -> None:
        post_migrate.connect(_count_stored_alarms, sender=self)
        from alarms import alarm_types  # the display names' cache follows the table's signals

        post_migrate.connect(alarm_types.seed_defaults, sender=self)


def _count_stored_alarms(using: str, **kwargs: Any) -> None:
    """Alarms stored before there were counts (an upgrade, a restore) are counted once, by migrate.

    Here rather than in a migration, so that it runs the counting code of today against the schema
    of today.
    """
    from alarms import counts
    from alarms.models import AlarmCount, AlarmCountChange, AlarmEvent

    if using != "default" or AlarmCount.objects.exists() or AlarmCountChange.objects.exists():
        return
    if AlarmEvent.objects.exists():
        counts.reconcile()
