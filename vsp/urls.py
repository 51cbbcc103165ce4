from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, include, path, re_path, resolve
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from alarms import dashboard, snapshot_views
from alarms import views as alarm_views
from alarms.api import AlarmViewSet, IncidentViewSet
from devices.api import EdgeDeviceViewSet
from vsp import ratelimit
from vsp.compat.system import login_limits
from vsp.health import health
from vsp.http import client_ip
from vsp.parsers import JSONParser


class ThrottledObtainAuthToken(ObtainAuthToken):
    """DRF's token-for-password view under the compat login's limits; wrong credentials are a 401."""

    # The project's JSON parser: JSON nested too deeply is a 400, not a 500.
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        summary="Exchange a staff user's password for an API token",
        responses={
            200: inline_serializer("IssuedToken", {"token": serializers.CharField()}),
            401: OpenApiResponse(description="Wrong username or password, or an inactive account"),
            429: OpenApiResponse(description="Too many attempts from this address"),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        limits = login_limits(username if isinstance(username, str) else "", client_ip(request._request))
        if (exceeded := ratelimit.check(limits, timezone.now())) is not None:
            raise Throttled(wait=exceeded.retry_after)
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            errors = serializer.errors
            if [error.code for error in errors.get("non_field_errors", [])] == ["authorization"]:
                return Response({"detail": str(errors["non_field_errors"][0])}, status=401)
            raise ValidationError(errors)
        token, _created = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


@csrf_exempt  # it changes nothing, whatever the method and cookies
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under /api/: a JSON 404, as the API's own answers are.

    A path that only lacks its trailing slash is redirected, as APPEND_SLASH would
    have done had this catch-all not matched it.
    """
    if not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            # 301 would turn a POST into a GET without its body; 308 keeps the method and the body.
            response = redirect(request.get_full_path(force_append_slash=True), permanent=True)
            if request.method not in ("GET", "HEAD"):
                response.status_code = 308
            return response
    return JsonResponse({"detail": f"no API endpoint at {request.path}"}, status=404)


# The console's name in every admin page's title and header (admin/base_site.html adds the favicon).
admin.site.site_header = _("VSP video alarm platform")
admin.site.site_title = _("VSP alarm console")
admin.site.index_title = _("Alarm console")

# Admin's index links the dashboard and the live page (a template of the index's own, so that the
# admin templates of other apps, whichever comes first, are left as they are).
admin.site.index_template = "alarms/admin_index.html"

router = DefaultRouter()
router.register("alerts", AlarmViewSet, basename="alert")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("devices", EdgeDeviceViewSet, basename="device")

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("live/", alarm_views.live, name="live"),
    # The language picker posts here (Django's set_language, which sets the language cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("files/<path:key>", snapshot_views.snapshot_file, name="snapshot-file"),
    path("health", health, name="health"),
    # Edge boxes
    path("api/", include("edge.urls")),
    # Native staff API
    path("api/v1/", include("analysis.urls")),
    path("api/v1/", include(router.urls)),
    path("api/v1/auth/token/", ThrottledObtainAuthToken.as_view(), name="api-token"),
    # Yudao-compatible staff API (README "API map")
    path("admin-api/", include("vsp.compat.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/", api_not_found),
]
