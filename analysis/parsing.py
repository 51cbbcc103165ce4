"""Reading the model's answer tolerantly: the JSON object, wherever in the text it is.

Models wrap JSON in code fences, put prose around it, write numbers as strings or confidence as a
percentage. Whatever does not give a known verdict is UNCERTAIN with ``parse_error`` set, and the raw
text is kept beside it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from analysis.models import Verdict

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_VERDICTS = {
    "REAL": Verdict.REAL,
    "TRUE": Verdict.REAL,
    "CONFIRMED": Verdict.REAL,
    "FALSE_ALARM": Verdict.FALSE_ALARM,
    "FALSE": Verdict.FALSE_ALARM,
    "FALSE_POSITIVE": Verdict.FALSE_ALARM,
    "REJECTED": Verdict.FALSE_ALARM,
    "UNCERTAIN": Verdict.UNCERTAIN,
    "UNSURE": Verdict.UNCERTAIN,
    "UNKNOWN": Verdict.UNCERTAIN,
}
_MAX_OBJECTS = 50


@dataclass(frozen=True)
class Opinion:
    verdict: str
    confidence: float | None = None
    description: str = ""
    risk_level: int | None = None
    objects: list[dict[str, Any]] = field(default_factory=list)
    parse_error: bool = False


def parse(text: str) -> Opinion:
    """The opinion in a model's answer; UNCERTAIN with ``parse_error`` if it holds none."""
    found = _json_object(text)
    if found is None:
        return Opinion(Verdict.UNCERTAIN, description=text.strip()[:2000], parse_error=True)
    verdict = _VERDICTS.get(str(found.get("verdict", "")).strip().upper().replace(" ", "_").replace("-", "_"))
    return Opinion(
        verdict=verdict or Verdict.UNCERTAIN,
        confidence=_confidence(found.get("confidence")),
        description=str(found.get("description") or "").strip()[:2000],
        risk_level=_risk_level(found.get("risk_level")),
        objects=_objects(found.get("objects")),
        parse_error=verdict is None,
    )


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object with a ``verdict`` in a fence, the whole text, or between braces in it."""
    candidates = [*_FENCE.findall(text), text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [match.start() for match in re.finditer(r"\{", candidate)][:20]:
            try:
                value, _end = decoder.raw_decode(candidate, start)
            except ValueError:
                continue
            if isinstance(value, dict) and "verdict" in value:
                return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().rstrip("%")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _confidence(value: Any) -> float | None:
    number = _number(value)
    if number is None:
        return None
    if (isinstance(value, str) and value.strip().endswith("%")) or 1 < number <= 100:
        number /= 100  # a percentage
    return number if 0 <= number <= 1 else None


def _risk_level(value: Any) -> int | None:
    number = _number(value)
    if number is None or not number.is_integer() or not 1 <= number <= 4:
        return None
    return int(number)


def _objects(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    kept = []
    for item in value[:_MAX_OBJECTS]:
        if not isinstance(item, dict):
            continue
        box = item.get("box", item.get("bbox"))
        numbers = [_number(number) for number in box] if isinstance(box, list) and len(box) == 4 else None
        entry: dict[str, Any] = {"label": str(item.get("label") or item.get("name") or "")[:64]}
        if numbers is not None and all(number is not None for number in numbers):
            entry["box"] = numbers
        if (confidence := _confidence(item.get("confidence"))) is not None:
            entry["confidence"] = confidence
        kept.append(entry)
    return kept
