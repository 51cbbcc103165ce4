"""Native API for the second opinion: an alarm's analyses, a staff request, the agreement with staff."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alarms.models import AlarmEvent
from analysis import agreement, services
from analysis.models import AlarmLlmAnalysis
from analysis.serializers import AnalysisSerializer
from vsp.times import SCHEMA_QUERY_TIME_PATTERN, TimeFormatError, parse_query_time

_MAX_LISTED = 100


class NotAnalysable(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_analysable"


class AlarmAnalysesView(APIView):
    """``/api/v1/alerts/{alarm_id}/analyses/``: GET lists them, newest first; POST requests one."""

    queryset = AlarmLlmAnalysis.objects.all()  # the model permissions: view to read, add to request

    @extend_schema(summary="An alarm's LLM analyses, newest first", responses={200: AnalysisSerializer(many=True)})
    def get(self, request: Request, alarm_id: str) -> Response:
        if not AlarmEvent.objects.filter(pk=alarm_id).exists():
            raise NotFound(f"alarm {alarm_id!r} does not exist")
        analyses = AlarmLlmAnalysis.objects.filter(alarm_id=alarm_id).order_by("-created_at", "-id")[:_MAX_LISTED]
        return Response(AnalysisSerializer(analyses, many=True).data)

    @extend_schema(
        summary="Ask the model for a (new) second opinion on an alarm's snapshot",
        request=None,
        responses={
            202: AnalysisSerializer,
            200: OpenApiResponse(AnalysisSerializer, description="one is already waiting or running"),
            404: None,
            409: OpenApiResponse(description="analysis is off, or the alarm has no snapshot"),
        },
    )
    def post(self, request: Request, alarm_id: str) -> Response:
        try:
            analysis, created = services.request_by_staff(alarm_id, name=request.user.get_username())
        except services.NotAnalysable as exc:
            raise NotAnalysable(str(exc)) from None
        data = AnalysisSerializer(analysis).data
        return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class AlarmAnalyzeView(AlarmAnalysesView):
    """``/api/v1/alerts/{alarm_id}/analyze/``: the same request as POST on ``analyses/``."""

    http_method_names = ["post", "options"]


@extend_schema_field({"type": "string", "pattern": SCHEMA_QUERY_TIME_PATTERN})
class QueryTime(serializers.CharField):
    """A range bound as the list filters take it (vsp.filters.QueryTimeField)."""

    def __init__(self, *, bound: Literal["start", "end"], **kwargs: Any) -> None:
        super().__init__(allow_blank=True, **kwargs)  # blank: the default, as the list filters take it
        self.bound = bound

    def to_internal_value(self, data: Any) -> datetime | None:  # type: ignore[override]
        text = super().to_internal_value(data)
        if not text:
            return None
        try:
            return parse_query_time(text, self.bound)
        except TimeFormatError as exc:
            raise serializers.ValidationError(str(exc)) from None


class AgreementQuery(serializers.Serializer):
    start = QueryTime(bound="start", required=False, help_text="event time from (default: 30 days ago)")
    end = QueryTime(bound="end", required=False, help_text="event time to, inclusive (default: now)")
    by = serializers.ChoiceField(choices=list(agreement.GROUPINGS), default="none")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        now = timezone.now()
        # A range that ends before it starts holds no alarm: its numbers are all zero.
        return {**attrs, "start": attrs.get("start") or now - timedelta(days=30), "end": attrs.get("end") or now}


class AgreementView(APIView):
    """``/api/v1/analyses/agreement/``: the model's verdicts against the staff's outcomes."""

    queryset = AlarmLlmAnalysis.objects.all()

    @extend_schema(
        summary="Confusion matrix of model verdict against staff outcome, with rates and cost",
        parameters=[AgreementQuery],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT),
            400: OpenApiResponse(description="a bound that is not a time"),
        },
    )
    def get(self, request: Request) -> Response:
        query = AgreementQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        return Response(
            agreement.agreement(
                start=values["start"], end=values["end"], by=values["by"], system_handler=services.SYSTEM_HANDLER
            )
        )
