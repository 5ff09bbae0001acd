"""Home Assistant MQTT discovery: one device per camera box.

Per camera: three images (mugshot, the camera's face crop, and the latest profile view: the newest event
that showed the person's side), a timestamp sensor (last mugshot),
a motion binary sensor and an ``event`` entity that fires on every mugshot the box sends.
Per box: diagnostic sensors read from the retained ``<prefix>/stats`` topic (edge/publish/health.py).

Payloads follow Home Assistant's per-component discovery format: a retained config message
under ``<discovery_prefix>/<component>/<object_id>/config``.  ``unique_id`` keeps the form it
always had (entities already in Home Assistant's registry stay the same entities);
``default_entity_id`` replaces ``object_id`` (deprecated in 2025.10, ignored from 2026.4);
an ``origin`` block names this software.  Every entity is tied to the box's status topic
(``online``; ``offline`` from the last will or ``stopped`` both read as unavailable).

Which discovery topics a box published is remembered in a small JSON file in its state
directory, so a camera (or an entity kind) that is no longer configured has its retained
config cleared with an empty payload at the next connect, and Home Assistant removes it.
"""
from __future__ import annotations

import json
import logging
import os
import re
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

ORIGIN_NAME = "mugshot-edge"
EVENT_TYPES = ("new", "better_shot")  # revision 1, and a later better shot of the same person


def _slug(text: str) -> str:
    """The ids used since the first release (unique_id and discovery topic): keep them as they are.
    Called with the name's slug (edge/names.py), so topics, folders and ids follow one rule."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_").lower() or "x"


def _entity_slug(text: str) -> str:
    """Home Assistant's entity-id object part: lowercase letters, digits, single inner underscores."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text.lower())).strip("_") or "x"


def support_url() -> str:
    """The project's URL from the installed package metadata (``[project.urls]``), if it has one."""
    try:
        urls = metadata.metadata("mugshot-edge").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return ""
    for label, _, url in (entry.partition(", ") for entry in urls):
        if label.lower() in ("issues", "support", "homepage", "source", "repository") and \
                url.startswith(("http://", "https://")):
            return url
    return ""


def origin(version: str) -> dict:
    block = {"name": ORIGIN_NAME, "sw_version": version}
    if url := support_url():
        block["support_url"] = url
    return block


def _template_attrs(fields: dict[str, str]) -> str:
    inner = ", ".join(f"'{name}': {expr}" for name, expr in fields.items())
    return "{{ {" + inner + "} | tojson }}"


# Which box-health fields become sensors (edge/publish/health.py writes them), all diagnostic.
HEALTH_SENSORS = {
    "fps": {"name": "frame rate", "unit_of_measurement": "fps", "state_class": "measurement",
            "suggested_display_precision": 1, "icon": "mdi:speedometer"},
    "events": {"name": "events since start", "state_class": "total_increasing", "icon": "mdi:face-recognition"},
    "spool_depth": {"name": "spool depth", "state_class": "measurement", "icon": "mdi:tray-full"},
    "spool_bytes": {"name": "spool size", "device_class": "data_size", "unit_of_measurement": "B",
                    "state_class": "measurement"},
    "dropped": {"name": "dropped events", "state_class": "total_increasing", "icon": "mdi:delete-alert"},
    "write_failures": {"name": "spool write failures", "state_class": "total_increasing",
                       "icon": "mdi:harddisk-remove"},
    "cpu_temperature": {"name": "CPU temperature", "device_class": "temperature", "unit_of_measurement": "°C",
                        "state_class": "measurement", "suggested_display_precision": 1},
    "started": {"name": "started", "device_class": "timestamp"},
}


def discovery_messages(*, discovery_prefix: str, topic_prefix: str, device_id: str, cameras: list[str],
                       version: str, configuration_url: str = "",
                       names: dict[str, str] | None = None) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs to publish retained.  ``device_id`` and ``cameras`` are slugs
    (edge/names.py): they make the topics and ids; ``names`` maps them to the names as written."""
    names = names or {}
    device = {"identifiers": [device_identifier(device_id)], "name": f"Mugshot {names.get(device_id, device_id)}",
              "manufacturer": "mugshot-edge", "model": "camera box", "sw_version": version}
    if configuration_url:
        device["configuration_url"] = configuration_url
    common = {
        "availability": [{"topic": f"{topic_prefix}/status",
                          "value_template": "{{ 'online' if value == 'online' else 'offline' }}"}],
        "device": device, "origin": origin(version)}
    entities: dict[tuple[str, str], dict] = {}
    for camera in cameras:
        base = f"{topic_prefix}/{camera}"
        uid = f"mugshot_{_slug(device_id)}_{_slug(camera)}"
        shown = names.get(camera, camera)
        entities |= {
            ("image", f"{uid}_mugshot"): {
                "name": f"{shown} mugshot", "image_topic": f"{base}/latest/mugshot",
                "content_type": "image/jpeg"},
            ("image", f"{uid}_crop"): {
                "name": f"{shown} face crop", "image_topic": f"{base}/latest/crop",
                "content_type": "image/jpeg"},
            ("image", f"{uid}_profile"): {
                "name": f"{camera} profile", "image_topic": f"{base}/latest/profile",
                "content_type": "image/jpeg", "icon": "mdi:face-man-profile"},
            ("sensor", f"{uid}_last_event"): {
                "name": f"{shown} last mugshot", "device_class": "timestamp",
                "state_topic": f"{base}/latest/event", "value_template": "{{ value_json.best_seen }}",
                "json_attributes_topic": f"{base}/latest/event",
                "json_attributes_template": _template_attrs(
                    {"event_id": "value_json.event_id", "yaw": "value_json.pose.yaw", "view": "value_json.view",
                     "pose_source": "value_json.pose.source", "generator": "value_json.generator"})},
            ("binary_sensor", f"{uid}_motion"): {
                "name": f"{shown} motion", "device_class": "motion", "state_topic": f"{base}/motion",
                "payload_on": "ON", "payload_off": "OFF"},
            # Fires on every event message (never retained, so nothing fires twice after a restart).
            ("event", f"{uid}_mugshot_event"): {
                "name": f"{shown} new mugshot", "state_topic": f"{base}/event", "event_types": list(EVENT_TYPES),
                "icon": "mdi:account-box",
                "value_template": _template_attrs({
                    "event_type": f"'{EVENT_TYPES[0]}' if value_json.revision == 1 else '{EVENT_TYPES[1]}'",
                    "event_id": "value_json.event_id", "revision": "value_json.revision",
                    "final": "value_json.final", "camera": "value_json.camera", "best_seen": "value_json.best_seen",
                    "generator": "value_json.models.generator.name", "yaw": "value_json.pose.yaw",
                    "pose_source": "value_json.pose.source",
                    "mugshot_topic": f"'{base}/images/' ~ value_json.event_id ~ '/mugshot'",
                    "crop_topic": f"'{base}/images/' ~ value_json.event_id ~ '/crop'",
                    "view": "value_json.view",
                    "profile_topic": f"('{base}/images/' ~ value_json.event_id ~ '/profile') "
                                     f"if value_json.images.profile is defined else none"})},
        }
    box_uid = f"mugshot_{_slug(device_id)}"
    for field, sensor in HEALTH_SENSORS.items():
        entities[("sensor", f"{box_uid}_{field}")] = sensor | {
            "state_topic": f"{topic_prefix}/stats", "value_template": f"{{{{ value_json.{field} }}}}",
            "entity_category": "diagnostic"}
    messages = []
    for (component, object_id), config in entities.items():
        payload = config | common | {"unique_id": object_id,
                                     "default_entity_id": f"{component}.{_entity_slug(object_id)}"}
        messages.append((f"{discovery_prefix}/{component}/{object_id}/config", json.dumps(payload).encode("utf-8")))
    return messages


def device_identifier(device_id: str) -> str:
    return f"mugshot_edge_{_slug(device_id)}"


class DiscoveryScan:
    """Without a record (first start with this version, a wiped state directory), the retained
    configs under the discovery prefix that name this box's device are what it published before."""

    SECONDS = 2.0  # how long the box listens for retained configs after subscribing

    def __init__(self, discovery_prefix: str, device_id: str):
        self.topic_filter = f"{discovery_prefix}/+/+/config"
        self.identifier = device_identifier(device_id)
        self.found: set[str] = set()

    def offer(self, topic: str, payload: bytes, retained: bool) -> None:
        if not retained or not topic.endswith("/config"):
            return  # live copies of what the box publishes now are not history
        try:
            device = json.loads(payload).get("device") or {}
            ids = device.get("identifiers") or []
        except (ValueError, AttributeError):
            return
        if self.identifier in ([ids] if isinstance(ids, str) else ids):
            self.found.add(topic)

    def stale(self, current: set[str]) -> list[str]:
        return sorted(self.found - current)


class DiscoveryRecord:
    """The discovery topics this box published last time, kept beside its spool.

    ``stale(current)`` is what was published before and is not any more: those topics get an
    empty retained payload, which makes Home Assistant remove the entity.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> set[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {t for t in data.get("topics", []) if isinstance(t, str)}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("discovery record %s unreadable (%s): cannot clear entities removed from the config",
                        self.path, exc)
            return set()

    def stale(self, current: set[str]) -> list[str]:
        return sorted(self.load() - current)

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, current: set[str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"topics": sorted(current)}, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot write discovery record %s: %s", self.path, exc)
