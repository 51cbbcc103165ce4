"""Staff input for alarms, and their representations: native, and the compat shape events carry too."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alarms.models import (
    AlarmEvent,
    AlarmHandleLog,
    AlarmLevel,
    AlarmStatus,
    BulkHandleJob,
    HandleStatus,
    Incident,
)
from alarms.snapshots import snapshot_link, thumbnail_link
from vsp.compat.representation import CompatRepresentation
from vsp.fields import (
    BlankIsNoneMixin,
    EventTimeField,
    FiniteFloatField,
    JSONObjectField,
    SnapshotReferenceField,
    StrictCharField,
    StrictIntegerField,
    StrictTextField,
)


class ManualAlarmSerializer(BlankIsNoneMixin, serializers.Serializer):
    """Staff entering an alarm by hand; it gets an ``ALT…`` id."""

    # Text as strict as the edge's: stored ids go to exports and sockets alike.
    alarm_type = StrictCharField(max_length=64)
    device_id = StrictCharField(max_length=64)
    scene_id = StrictCharField(max_length=64, required=False, allow_blank=True)
    event_time = EventTimeField(required=False, help_text="Defaults to now.")
    alarm_level = StrictIntegerField(min_value=1, max_value=4, required=False)
    snapshot_url = SnapshotReferenceField(required=False, allow_blank=True)
    confidence_score = FiniteFloatField(min_value=0.0, max_value=1.0, required=False, allow_null=True)
    ext_data = JSONObjectField(required=False)


class HandleSerializer(serializers.Serializer):
    handle_status = serializers.ChoiceField(choices=HandleStatus.choices)
    alarm_status = serializers.ChoiceField(choices=AlarmStatus.choices, required=False)
    remark = StrictTextField(max_length=settings.HANDLE_REMARK_MAX_LENGTH, required=False, allow_blank=True)


def alarm_ids_field() -> serializers.ListField:
    """A bulk call's alarm ids: strings, at least one, at most BULK_HANDLE_MAX_IDS (duplicates included)."""
    return serializers.ListField(
        child=StrictCharField(max_length=64),
        allow_empty=False,
        min_length=1,  # as allow_empty, for the schema (minItems)
        max_length=settings.BULK_HANDLE_MAX_IDS,
    )


class BulkHandleSerializer(HandleSerializer):
    alarm_ids = alarm_ids_field()


class StaffUsernameField(serializers.SlugRelatedField):
    """An active staff member by username, or null; DRF's relations read "" as null, this one refuses it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="username", queryset=User.objects.filter(is_staff=True, is_active=True), **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":
            raise serializers.ValidationError("Give a staff member's username, or null for nobody.")
        return super().run_validation(data)


class BulkAssignSerializer(serializers.Serializer):
    alarm_ids = alarm_ids_field()
    # Given, and null to unassign: leaving it out is an error, not "nobody".
    assignee = StaffUsernameField(allow_null=True)


class BulkResultsSerializer(serializers.Serializer):
    """``{"results": {alarm id: outcome}}``: one entry per distinct id given."""

    results = serializers.DictField(
        child=serializers.ChoiceField(choices=["updated", "not_found", "forbidden", "invalid_transition"])
    )


class BulkHandleJobSerializer(serializers.ModelSerializer):
    """A filter job's request and progress (``GET /api/v1/alerts/bulk-jobs/{id}/``)."""

    alarm_status = serializers.SerializerMethodField()
    remark = serializers.CharField(read_only=True, allow_null=True)
    outcomes = serializers.SerializerMethodField()

    class Meta:
        model = BulkHandleJob
        fields = [
            "id",
            "status",
            "filters",
            "handle_status",
            "alarm_status",
            "remark",
            "actor_name",
            "total",
            "done",
            "outcomes",
            "error",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=AlarmStatus.choices, allow_null=True))
    def get_alarm_status(self, job: BulkHandleJob) -> str | None:
        return job.alarm_status or None  # not given: each alarm's moves as handle_alarm moves it

    @extend_schema_field(
        serializers.DictField(child=serializers.IntegerField(), help_text="How many alarms had each outcome.")
    )
    def get_outcomes(self, job: BulkHandleJob) -> dict[str, int]:
        return {
            "updated": job.updated,
            "not_found": job.not_found,
            "forbidden": job.forbidden,
            "invalid_transition": job.invalid_transition,
        }


class HandleLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlarmHandleLog
        fields = [
            "actor_name",
            "from_handle_status",
            "to_handle_status",
            "from_alarm_status",
            "to_alarm_status",
            "remark",
            "created_at",
        ]


class AlarmSerializer(serializers.ModelSerializer):
    """The native representation of an alarm (snake_case, ISO 8601 times in TIME_ZONE)."""

    device_name = serializers.CharField(read_only=True, allow_null=True)
    # Links a browser can open (presigned or signed, valid SNAPSHOT_URL_TTL); null without a snapshot.
    snapshot_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    alarm_level = serializers.ChoiceField(choices=AlarmLevel.choices, read_only=True)
    # The username of whom the alarm is assigned to (AlarmEventQuerySet.with_device_name); null: nobody.
    assignee = serializers.CharField(source="assignee_name", read_only=True, allow_null=True)
    # The storm it is part of, and how many alarms that has, so a page can fold a storm into one row.
    incident_id = serializers.IntegerField(read_only=True, allow_null=True)
    incident_count = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = AlarmEvent
        fields = [
            "alarm_id",
            "alarm_type",
            "device_id",
            "device_name",
            "scene_id",
            "event_time",
            "alarm_level",
            "alarm_status",
            "handle_status",
            "snapshot_url",
            "thumbnail_url",
            "snapshot_status",
            "confidence_score",
            "duration_ms",
            "end_time",
            "resolve_type",
            "handler",
            "handle_remark",
            "handle_time",
            "assignee",
            "incident_id",
            "incident_count",
            "source",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_snapshot_url(self, alarm: AlarmEvent) -> str | None:
        return snapshot_link(alarm)

    def get_thumbnail_url(self, alarm: AlarmEvent) -> str | None:
        return thumbnail_link(alarm)


class AlarmDetailSerializer(AlarmSerializer):
    ext_data = serializers.SerializerMethodField()
    handle_logs = HandleLogSerializer(many=True, read_only=True)

    class Meta(AlarmSerializer.Meta):
        fields = [*AlarmSerializer.Meta.fields, "ext_data", "handle_logs"]
        read_only_fields = fields

    def get_ext_data(self, alarm: AlarmEvent) -> dict[str, Any] | None:
        ext = getattr(alarm, "ext", None)
        return ext.ext_data if ext is not None else None


class AlarmCompatSerializer(CompatRepresentation, AlarmSerializer):
    renames = {"created_at": "createTime", "updated_at": "updateTime"}

    class Meta(AlarmSerializer.Meta):
        fields = [name for name in AlarmSerializer.Meta.fields if name != "source"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    """A storm: alarms of one (device, scene, type) within INCIDENT_WINDOW of each other."""

    highest_level = serializers.ChoiceField(choices=AlarmLevel.choices, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "device_id",
            "scene_id",
            "alarm_type",
            "count",
            "first_time",
            "last_time",
            "highest_level",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
