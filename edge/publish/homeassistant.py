"""Home Assistant MQTT discovery: a device per camera box with two images (mugshot, face crop),
a sensor and a motion sensor.

Payloads follow Home Assistant's MQTT discovery format: retained config messages under
``<discovery_prefix>/<component>/<object_id>/config``, all tied to the box's availability
topic, so the entities show 'unavailable' when the box is offline or stopped.
"""
from __future__ import annotations

import json
import re


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_").lower() or "x"


def discovery_messages(*, discovery_prefix: str, topic_prefix: str, device_id: str, cameras: list[str],
                       version: str) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs to publish retained; one set of entities per camera."""
    device = {"identifiers": [f"mugshot_edge_{_slug(device_id)}"], "name": f"Mugshot {device_id}",
              "manufacturer": "mugshot-edge", "model": "camera box", "sw_version": version}
    availability = {"availability_topic": f"{topic_prefix}/status", "payload_available": "online",
                    "payload_not_available": "offline",
                    "availability_template": "{{ 'online' if value == 'online' else 'offline' }}"}
    messages = []
    for camera in cameras:
        base = f"{topic_prefix}/{camera}"
        uid = f"mugshot_{_slug(device_id)}_{_slug(camera)}"
        entities = {
            ("image", f"{uid}_mugshot"): {
                "name": f"{camera} mugshot", "image_topic": f"{base}/latest/mugshot",
                "content_type": "image/jpeg"},
            ("image", f"{uid}_crop"): {
                "name": f"{camera} face crop", "image_topic": f"{base}/latest/crop",
                "content_type": "image/jpeg"},
            ("sensor", f"{uid}_last_event"): {
                "name": f"{camera} last mugshot", "device_class": "timestamp",
                "state_topic": f"{base}/latest/event", "value_template": "{{ value_json.best_seen }}",
                "json_attributes_topic": f"{base}/latest/event",
                "json_attributes_template": "{{ {'event_id': value_json.event_id, 'yaw': value_json.pose.yaw, "
                                            "'pose_source': value_json.pose.source, "
                                            "'generator': value_json.generator} | tojson }}"},
            ("binary_sensor", f"{uid}_motion"): {
                "name": f"{camera} motion", "device_class": "motion", "state_topic": f"{base}/motion",
                "payload_on": "ON", "payload_off": "OFF"},
        }
        for (component, object_id), config in entities.items():
            payload = config | availability | {"unique_id": object_id, "object_id": object_id, "device": device}
            messages.append((f"{discovery_prefix}/{component}/{object_id}/config",
                             json.dumps(payload).encode("utf-8")))
    return messages
