"""How often the model agrees with the staff: a confusion matrix of verdict against staff outcome.

Counted over the alarms of an event-time range that were both analysed and decided by a person:
IGNORED is a false alarm, HANDLED a real one; alarms the policy itself marked are left out (the
outcome would be the model's own). Each alarm counts once per group, with its latest finished
analysis (per model and prompt version when grouped by them). Exact: every count is a GROUP BY of
the rows in the range, in one query.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Sum

from alarms.models import HandleStatus
from analysis.models import AlarmLlmAnalysis, Verdict

GROUPINGS: dict[str, tuple[str, ...]] = {
    "none": (),
    "type": ("alarm__alarm_type",),
    "device": ("alarm__device_id",),
    "model": ("model_name", "prompt_version"),
}
_KEY_NAMES = {"alarm__alarm_type": "alarm_type", "alarm__device_id": "device_id"}
_OUTCOMES = {HandleStatus.HANDLED: "real", HandleStatus.IGNORED: "false_alarm"}
Done = AlarmLlmAnalysis.Status.DONE


def agreement(*, start: datetime, end: datetime, by: str = "none", system_handler: str) -> dict[str, Any]:
    """The matrix, its rates and the model's cost, per group and overall, for alarms in [start, end]."""
    in_range = Q(alarm__event_time__gte=start, alarm__event_time__lte=end)
    newer = Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    later = AlarmLlmAnalysis.objects.filter(newer, alarm=OuterRef("alarm"), status=Done)
    if by == "model":
        later = later.filter(model_name=OuterRef("model_name"), prompt_version=OuterRef("prompt_version"))
    decided = (
        AlarmLlmAnalysis.objects.filter(in_range, status=Done, alarm__handle_status__in=list(_OUTCOMES))
        .exclude(alarm__handler=system_handler)
        .exclude(Exists(later))
    )
    keys = GROUPINGS[by]
    rows = decided.values(*keys, "verdict", "alarm__handle_status").annotate(n=Count("pk")).order_by()
    groups: dict[tuple[Any, ...], dict[str, dict[str, int]]] = defaultdict(_empty_matrix)
    overall = _empty_matrix()
    for row in rows:
        outcome = _OUTCOMES[row["alarm__handle_status"]]
        groups[tuple(row[key] for key in keys)][row["verdict"]][outcome] += row["n"]
        overall[row["verdict"]][outcome] += row["n"]
    analysed = AlarmLlmAnalysis.objects.filter(in_range)
    spent = analysed.values(*keys).annotate(cost=Sum("cost"), n=Count("pk")) if keys else [
        analysed.aggregate(cost=Sum("cost"), n=Count("pk"))
    ]  # fmt: skip
    costs = {tuple(row[key] for key in keys): (row["cost"] or Decimal(0), row["n"]) for row in spent}
    total_cost = sum((cost for cost, _ in costs.values()), Decimal(0))
    total_analyses = sum(n for _, n in costs.values())
    return {
        "start": start,
        "end": end,
        "by": by,
        "overall": _summary(overall, total_cost, total_analyses),
        "groups": [
            {
                **{_KEY_NAMES.get(key, key): value for key, value in zip(keys, group, strict=True)},
                **_summary(matrix, *costs.get(group, (Decimal(0), 0))),
            }
            for group, matrix in sorted(groups.items(), key=lambda item: tuple(str(part) for part in item[0]))
        ]
        if keys
        else [],
    }


def _empty_matrix() -> dict[str, dict[str, int]]:
    return {verdict: {"real": 0, "false_alarm": 0} for verdict in Verdict.values}


def _summary(matrix: dict[str, dict[str, int]], cost: Decimal, analyses: int) -> dict[str, Any]:
    real, false = matrix[Verdict.REAL], matrix[Verdict.FALSE_ALARM]
    decided = sum(cell for row in matrix.values() for cell in row.values())
    committed = decided - sum(matrix[Verdict.UNCERTAIN].values())  # the alarms it gave a verdict on
    agreed = real["real"] + false["false_alarm"]
    staff_false_alarms = sum(row["false_alarm"] for row in matrix.values())
    return {
        "matrix": matrix,
        "decided": decided,
        "agreed": agreed,
        # Of the alarms it called, how many it called as staff did.
        "agreement_rate": _rate(agreed, committed),
        "uncertain_rate": _rate(decided - committed, decided),
        # Of the alarms staff found false, the share the model would have closed for them.
        "false_alarms_caught": false["false_alarm"],
        "false_alarm_saving_rate": _rate(false["false_alarm"], staff_false_alarms),
        # Real alarms it called false: what trusting it would have cost.
        "real_alarms_missed": false["real"],
        "analyses": analyses,
        "cost": str(cost.quantize(Decimal("0.000001"))),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
