"""The event schema, checked field by field before anything from the wire is stored.

``parse_event`` turns a message payload into a validated metadata dict or raises
``EventRejected`` with one line naming the field (``pose.yaw: expected a number, got
'<script>'``).  Unknown extra keys are kept (boxes newer than this receiver add fields),
but every value, known or not, must be plain JSON no deeper than ``MAX_DEPTH`` levels,
with finite numbers and bounded strings.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime

from ..names import PLAIN_NAME as NAME  # device and camera slugs (edge/names.py): safe as folder names
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
IMAGE_NAMES = ("mugshot", "crop")  # every event has these
OPTIONAL_IMAGE_NAMES = ("profile",)  # an event has these when its ``images`` names them (a track's side view)
ALL_IMAGE_NAMES = IMAGE_NAMES + OPTIONAL_IMAGE_NAMES
VIEWS = ("frontal", "three-quarter", "profile")
MAX_SEQUENCE = 2**53 - 1  # a box's event number: one JSON (and JavaScript) reads exactly
MAX_DEPTH = 16
MAX_STRING = 4096
MAX_KEYS = 512


class EventRejected(ValueError):
    """A message that is not a valid event; the text names what was wrong."""


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_event(payload: bytes) -> dict:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise EventRejected(f"malformed event JSON ({len(payload)} bytes): not UTF-8") from None
    try:
        meta = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise EventRejected(f"malformed event JSON ({len(payload)} bytes): nested too deep") from None
    except ValueError as exc:
        raise EventRejected(f"malformed event JSON ({len(payload)} bytes): {exc}") from None
    if not isinstance(meta, dict):
        raise EventRejected(f"malformed event JSON: expected an object, got {type(meta).__name__}")
    _check_plain(meta, "", 1)
    validate_event(meta)
    return meta


def _check_plain(value, path: str, depth: int) -> None:
    """Every value is plain JSON: bounded depth, size and string length, finite numbers."""
    if depth > MAX_DEPTH:
        raise EventRejected(f"malformed event JSON: nested more than {MAX_DEPTH} deep at {path or 'the top'}")
    if isinstance(value, dict):
        if len(value) > MAX_KEYS:
            raise EventRejected(f"{path or 'event'}: more than {MAX_KEYS} keys")
        for key, item in value.items():
            _check_plain(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_KEYS:
            raise EventRejected(f"{path}: more than {MAX_KEYS} items")
        for i, item in enumerate(value):
            _check_plain(item, f"{path}[{i}]", depth + 1)
    elif isinstance(value, str):
        if len(value) > MAX_STRING:
            raise EventRejected(f"{path}: a string of {len(value)} characters (at most {MAX_STRING})")
    elif isinstance(value, float) and not math.isfinite(value):
        raise EventRejected(f"{path}: not a finite number")


def _field(meta: dict, path: str, kinds, *, optional: bool = False):
    value, walked = meta, []
    for part in path.split("."):
        if not isinstance(value, dict):
            raise EventRejected(f"{'.'.join(walked)}: expected an object, got {_show(value)}")
        if part not in value:
            if optional:
                return None
            raise EventRejected(f"{path}: missing")
        value = value[part]
        walked.append(part)
    wanted = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in wanted or not isinstance(value, wanted):
        names = " or ".join({int: "an integer", float: "a number", str: "a string", bool: "true or false",
                             dict: "an object", list: "a list"}[k] for k in wanted
                            if not (k is int and float in wanted))
        raise EventRejected(f"{path}: expected {names}, got {_show(value)}")
    return value


def _show(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


NUMBER = (int, float)


def validate_event(meta: dict) -> None:
    _field(meta, "schema", int)
    event_id = _field(meta, "event_id", str)
    if not EVENT_ID.match(event_id):
        raise EventRejected(f"event_id: expected 1-64 letters, digits, '_' or '-', got {_show(event_id)}")
    if _field(meta, "revision", int) < 1:
        raise EventRejected(f"revision: expected 1 or more, got {meta['revision']}")
    sequence = _field(meta, "sequence", int, optional=True)
    if sequence is not None and not 0 <= sequence <= MAX_SEQUENCE:
        raise EventRejected(f"sequence: expected 0 to {MAX_SEQUENCE}, got {_show(sequence)}")
    _field(meta, "final", bool)
    for key in ("camera", "device"):
        if not NAME.match(_field(meta, key, str)):
            raise EventRejected(f"{key}: expected 1-64 letters, digits, '_', '.' or '-', got {_show(meta[key])}")
        _field(meta, f"{key}_name", str, optional=True)  # the name as the box's owner wrote it
    for key in ("first_seen", "best_seen", "last_seen"):
        try:
            datetime.fromisoformat(_field(meta, key, str).replace("Z", "+00:00"))
        except ValueError:
            raise EventRejected(f"{key}: expected an ISO 8601 time, got {_show(meta[key])}") from None
    for key in ("box.x", "box.y", "box.w", "box.h", "pose.yaw", "pose.pitch", "pose.roll"):
        _field(meta, key, NUMBER)
    _field(meta, "pose.source", str, optional=True)
    _field(meta, "frame.width", int)
    _field(meta, "frame.height", int)
    for key, value in _field(meta, "quality", dict).items():
        _field(meta, f"quality.{key}", (int, float, bool, str)) if value is not None else None
    for role, model in _field(meta, "models", dict).items():
        _field(meta, f"models.{role}", dict)
        for key in model:
            _field(meta, f"models.{role}.{key}", (str, int, float, bool))
    _field(meta, "generator", str)
    _field(meta, "mesh", dict, optional=True)
    view = _field(meta, "view", str, optional=True)
    if view is not None and view not in VIEWS:
        raise EventRejected(f"view: expected one of {', '.join(VIEWS)}, got {_show(view)}")
    if "profile" in _field(meta, "images", dict):
        for key in ("profile_pose.yaw", "profile_pose.pitch", "profile_pose.roll"):
            _field(meta, key, NUMBER)
    for name in image_names(meta):
        if _field(meta, f"images.{name}.content_type", str) != "image/jpeg":
            raise EventRejected(f"images.{name}.content_type: expected \"image/jpeg\", "
                                f"got {_show(meta['images'][name]['content_type'])}")
        for key in ("width", "height", "bytes"):
            if _field(meta, f"images.{name}.{key}", int) < 1:
                raise EventRejected(f"images.{name}.{key}: expected 1 or more, got {meta['images'][name][key]}")
        if not SHA256.match(_field(meta, f"images.{name}.sha256", str)):
            raise EventRejected(f"images.{name}.sha256: expected 64 lowercase hex digits")


def image_names(meta: dict) -> tuple[str, ...]:
    """The images this event has: the mugshot and crop, and those optional ones its ``images`` names."""
    images = meta.get("images") if isinstance(meta.get("images"), dict) else {}
    return IMAGE_NAMES + tuple(name for name in OPTIONAL_IMAGE_NAMES if name in images)
VIEWS = ("frontal", "three-quarter", "profile")


def view_of(meta: dict) -> str:
    """The event's ``view`` as the box said it; for boxes that do not say, from |pose.yaw|
    (under 20 degrees frontal, under 60 three-quarter, else profile: the box's own thresholds)."""
    view = meta.get("view")
    if view in VIEWS:
        return view
    yaw = abs(float(meta["pose"]["yaw"]))
    return "frontal" if yaw < 20 else "three-quarter" if yaw < 60 else "profile"


def is_jpeg(data: bytes) -> bool:
    """JPEG start-of-image marker at the start and end-of-image marker at the end."""
    return data[:3] == b"\xff\xd8\xff" and data.rstrip(b"\x00")[-2:] == b"\xff\xd9"
