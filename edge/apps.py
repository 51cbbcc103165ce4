from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EdgeConfig(AppConfig):
    name = "edge"
    verbose_name = _("Edge ingest")

    def warm_up(self) -> None:
        """Validate a sample report, so the first real one finds the validators compiled (vsp.warmup)."""
        from edge.serializers import EdgeReportSerializer

        sample = {
            "alarm_id": "warm-up", "alarm_type": "intrusion", "device_id": "cam-01", "scene_id": "gate-1",
            "event_time": "2026-01-01 00:00:00", "alarm_level": 2, "snapshot_url": "https://example.com/s.jpg",
            "confidence_score": 0.9, "ext_data": {"bbox": [0, 0, 1, 1]},
        }  # fmt: skip
        EdgeReportSerializer(data=sample).is_valid()
