from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.routers import DefaultRouter
from rest_framework.throttling import ScopedRateThrottle

from alarms import snapshot_views
from alarms import views as alarm_views
from alarms.api import AlarmViewSet
from devices.api import EdgeDeviceViewSet
from vsp.health import health


class ThrottledObtainAuthToken(ObtainAuthToken):
    """DRF's token-for-password view, limited per address (LOGIN_RATE_PER_IP)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"


router = DefaultRouter()
router.register("alerts", AlarmViewSet, basename="alert")
router.register("devices", EdgeDeviceViewSet, basename="device")

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("live/", alarm_views.live, name="live"),
    path("files/<path:key>", snapshot_views.snapshot_file, name="snapshot-file"),
    path("health", health, name="health"),
    # Edge boxes
    path("api/", include("edge.urls")),
    # Native staff API
    path("api/v1/", include(router.urls)),
    path("api/v1/auth/token/", ThrottledObtainAuthToken.as_view(), name="api-token"),
    # Yudao-compatible staff API (README "API map")
    path("admin-api/", include("vsp.compat.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
