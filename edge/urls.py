from django.urls import path

from edge.endpoints import HEARTBEAT, REPORT, RESOLVE
from edge.http import http_view

urlpatterns = [
    path("ai/alert/edge/report", http_view(REPORT), name="edge-report"),
    path("ai/alert/edge/resolve", http_view(RESOLVE), name="edge-resolve"),
    path("ai/device/heartbeat", http_view(HEARTBEAT), name="edge-heartbeat"),
]
