"""The native API's analysis paths (``/api/v1/``), beside the alerts router's."""

from __future__ import annotations

from django.urls import path, re_path

from alarms.models import ALARM_ID_PATTERN
from analysis import api

_ALARM = rf"^alerts/(?P<alarm_id>{ALARM_ID_PATTERN})"

urlpatterns = [
    re_path(rf"{_ALARM}/analyses/$", api.AlarmAnalysesView.as_view(), name="alert-analyses"),
    re_path(rf"{_ALARM}/analyze/$", api.AlarmAnalyzeView.as_view(), name="alert-analyze"),
    path("analyses/agreement/", api.AgreementView.as_view(), name="analysis-agreement"),
]
