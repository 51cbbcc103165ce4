"""The prompts: one versioned template per alarm type, and the JSON answer each asks for.

A template's version goes into every analysis made with it, so the agreement with staff can be told
apart per version. Change a template's text, change its version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    version: str
    # What the camera box claims to have seen, and what would make it a false alarm.
    question: str


TEMPLATES: dict[str, Template] = {
    "intrusion": Template(
        "intrusion-v1",
        "The box reports a person or vehicle inside a restricted area. Is a person or vehicle really in the "
        "picture? Shadows, reflections, animals, swaying plants and posters of people are false alarms.",
    ),
    "leave_post": Template(
        "leave_post-v1",
        "The box reports that nobody is at a guarded post. Is the post in the picture really unattended? "
        "A guard partly hidden, seated or standing just off the usual spot means the alarm is false.",
    ),
    "no_helmet": Template(
        "no_helmet-v1",
        "The box reports a worker without a safety helmet. Is any worker's head really bare? Caps, hoods, "
        "hair or a helmet seen from behind are not bare heads; a person far from the work area may not matter.",
    ),
    "smoke": Template(
        "smoke-v1",
        "The box reports smoke. Is there really smoke? Steam, fog, dust, exhaust and lens glare are false alarms.",
    ),
    "fire": Template(
        "fire-v1",
        "The box reports an open flame. Is there really fire? Lamps, sunlight, reflections, welding behind a "
        "screen and orange clothing are false alarms.",
    ),
    "loitering": Template(
        "loitering-v1",
        "The box reports a person loitering. Is a person really lingering in the picture, rather than working, "
        "waiting where they should or passing through?",
    ),
    "crowd": Template(
        "crowd-v1",
        "The box reports people crowding. Is there really a dense group of people in the picture?",
    ),
}
GENERIC = Template(
    "generic-v1",
    "The box reports the event named above. Does the picture really show it? Anything else is a false alarm.",
)

_LANGUAGES = {"zh": "Simplified Chinese", "zh-cn": "Simplified Chinese", "zh-hans": "Simplified Chinese",
              "zh-tw": "Traditional Chinese", "zh-hant": "Traditional Chinese", "en": "English"}  # fmt: skip

ANSWER_SHAPE = (
    '{"verdict": "REAL" | "FALSE_ALARM" | "UNCERTAIN", "confidence": <0 to 1>, '
    '"description": "<what the picture shows, one or two sentences>", "risk_level": <1 to 4>, '
    '"objects": [{"label": "<what>", "box": [x1, y1, x2, y2], "confidence": <0 to 1>}]}'
)


def template_for(alarm_type: str) -> Template:
    return TEMPLATES.get(alarm_type, GENERIC)


def language_name(tag: str) -> str:
    return _LANGUAGES.get(tag.lower(), tag)


def system_prompt(template: Template, language: str) -> str:
    parts = [
        f"[prompt {template.version}]",
        "You review alarms from AI video cameras at industrial sites, as a second opinion for the staff on duty.",
        "You are shown one snapshot of an alarm.",
        f"Answer with one JSON object and nothing else, shaped as {ANSWER_SHAPE}.",
        "verdict REAL: the picture shows the event; FALSE_ALARM: it does not; UNCERTAIN: the picture cannot tell.",
        "risk_level 1 is the most severe (people in danger now), 4 the least.",
        "Boxes are pixel coordinates in the snapshot; leave objects empty if you cannot place them.",
        f"Write description in {language_name(language)}.",
    ]
    return " ".join(parts)


def user_prompt(
    template: Template, *, alarm_type: str, type_name: str, level: int, device: str, scene: str, site: str
) -> str:
    facts = [
        f"Alarm type: {alarm_type} ({type_name})." if type_name else f"Alarm type: {alarm_type}.",
        f"Level reported by the box: {level} (1 is the most severe).",
        f"Camera: {device}" + (f", scene {scene}." if scene else "."),
    ]
    if site:
        facts.append(f"About the site: {site}")
    return " ".join([*facts, template.question])
