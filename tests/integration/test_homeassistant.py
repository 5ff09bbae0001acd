"""Home Assistant discovery, motion state and box health against a real Mosquitto.

Every discovery payload the box publishes is captured from the broker and checked against
the keys Home Assistant's documentation lists for that component; every template in it is
rendered (Jinja2, as Home Assistant does) against the messages the box really sends.
"""
import json
import subprocess
import sys
from datetime import datetime

import jinja2
import pytest

from edge.config import MqttPublisherConfig
from edge.publish.health import HealthReporter, cpu_temperature
from edge.publish.homeassistant import EVENT_TYPES
from edge.publish.mqtt import MqttPublisher
from edge.daemon.stats import PipelineStats
from tests.conftest import ROOT
from tests.helpers import Recorder, make_event

pytestmark = pytest.mark.integration

# The configuration keys each MQTT component accepts, from Home Assistant's documentation,
# checked 2026-12-01 (the pages with `default_entity_id`, which replaced `object_id`):
#   https://www.home-assistant.io/integrations/image.mqtt/
#   https://www.home-assistant.io/integrations/sensor.mqtt/
#   https://www.home-assistant.io/integrations/binary_sensor.mqtt/
#   https://www.home-assistant.io/integrations/event.mqtt/
#   https://www.home-assistant.io/integrations/mqtt/#discovery-messages (the `origin` block:
#     name required, sw_version, support_url; core's MQTT_ORIGIN_INFO_SCHEMA says the same)
# `platform` is left out: the pages allow it only in device-based discovery messages, and the
# box sends one config per component.
COMMON = {"availability", "availability_mode", "availability_template", "availability_topic",
          "default_entity_id", "device", "enabled_by_default", "encoding", "entity_category",
          "entity_picture", "icon", "json_attributes_template", "json_attributes_topic", "name", "unique_id",
          "origin"}
ACCEPTED = {
    "image": COMMON | {"content_type", "image_encoding", "image_topic", "url_template", "url_topic"},
    "sensor": COMMON | {"device_class", "expire_after", "force_update", "last_reset_value_template", "options",
                        "payload_available", "payload_not_available", "suggested_display_precision", "qos",
                        "state_class", "state_topic", "unit_of_measurement", "value_template"},
    "binary_sensor": COMMON | {"device_class", "expire_after", "force_update", "off_delay", "payload_available",
                               "payload_not_available", "payload_off", "payload_on", "qos", "state_topic",
                               "value_template"},
    "event": COMMON | {"device_class", "event_types", "payload_available", "payload_not_available", "qos",
                       "state_topic", "value_template"},
}
REQUIRED = {"image": {"image_topic"}, "sensor": {"state_topic"}, "binary_sensor": {"state_topic"},
            "event": {"state_topic", "event_types"}}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id",
               "name", "serial_number", "suggested_area", "sw_version", "via_device"}
AVAILABILITY_KEYS = {"payload_available", "payload_not_available", "topic", "value_template"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
# Home Assistant's valid_entity_id: domain.object, lowercase letters, digits, single inner underscores.
ENTITY_ID = r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$"
TEMPLATE_KEYS = ("value_template", "json_attributes_template", "availability_template")


def publisher_for(broker, tmp_path, cameras=("door",), **overrides) -> MqttPublisher:
    cfg = MqttPublisherConfig(host="127.0.0.1", port=broker.port, spool_path=str(tmp_path / "spool.sqlite"),
                              reconnect_max=1.0, **overrides)
    return MqttPublisher(cfg, device_id="box1", cameras=list(cameras), version="test")


def render(template: str, payload: bytes) -> str:
    """A Home Assistant MQTT value template: `value` is the payload, `value_json` its JSON."""
    value = payload.decode()
    try:
        value_json = json.loads(value)
    except ValueError:
        value_json = jinja2.Undefined()
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(
        value=value, value_json=value_json)


def retained_configs(port, prefix="homeassistant") -> dict[str, dict]:
    """What a subscriber arriving now (Home Assistant starting) gets: the retained discovery configs."""
    fresh = Recorder(port, topics=[f"{prefix}/#"])
    fresh.wait_for(lambda r: False, timeout=1.5)
    fresh.stop()
    return {t: json.loads(p) for t, p, _, retained in fresh.messages if retained and p and t.endswith("/config")}


def check_payload(topic: str, config: dict) -> str:
    component = topic.split("/")[1]
    assert component in ACCEPTED, f"{topic}: component {component} not in the table"
    unknown = set(config) - ACCEPTED[component]
    assert not unknown, f"{topic}: keys Home Assistant does not document for {component}: {sorted(unknown)}"
    assert REQUIRED[component] <= set(config), f"{topic}: missing {REQUIRED[component] - set(config)}"
    assert "object_id" not in config
    assert config["default_entity_id"].startswith(f"{component}.")
    assert __import__("re").match(ENTITY_ID, config["default_entity_id"]), config["default_entity_id"]
    assert topic == f"homeassistant/{component}/{config['unique_id']}/config"
    assert set(config["device"]) <= DEVICE_KEYS and config["device"]["identifiers"]
    assert set(config["origin"]) <= ORIGIN_KEYS and config["origin"]["name"] == "mugshot-edge"
    assert config["origin"]["sw_version"] == "test"
    for item in config["availability"]:
        assert set(item) <= AVAILABILITY_KEYS and item["topic"] == "mugshot/box1/status"
    if component == "sensor" and "entity_category" in config:
        assert config["entity_category"] == "diagnostic"  # the only category a sensor may have
    return component


def test_every_discovery_payload_is_what_home_assistant_documents(broker, tmp_path):
    recorder = Recorder(broker.port, topics=["homeassistant/#", "mugshot/#"])
    publisher = publisher_for(broker, tmp_path, configuration_url="http://receiver.lan:8080/")
    try:
        assert recorder.wait_for(lambda r: any("/event/" in t for t, *_ in r.messages))
        event = make_event(1, profile=True)
        publisher.publish(event)
        HealthReporter([publisher], PipelineStats(frames=40, events=1), device_id="box1", camera="door",
                       version="test", interval=60).report()
        assert recorder.wait_for(lambda r: r.payloads("mugshot/box1/door/latest/event")
                                 and r.payloads("mugshot/box1/door/latest/profile")
                                 and r.payloads("mugshot/box1/stats"))
    finally:
        publisher.close()
    configs = {t: json.loads(p) for t, p, _, _ in recorder.messages if t.startswith("homeassistant/")}
    kinds = [check_payload(topic, config) for topic, config in configs.items()]
    assert sorted(set(kinds)) == ["binary_sensor", "event", "image", "sensor"]
    assert all(c["device"]["configuration_url"] == "http://receiver.lan:8080/" for c in configs.values())
    assert len({c["default_entity_id"] for c in configs.values()}) == len(configs)

    # Every template, rendered against what the box publishes on the topic it reads.
    messages = {t: p for t, p, _, _ in recorder.messages}
    for topic, config in configs.items():
        state = messages.get(config.get("state_topic"))
        if "value_template" in config:
            rendered = render(config["value_template"], state)
            if topic.startswith("homeassistant/event/"):
                fired = json.loads(rendered)
                assert fired["event_type"] == EVENT_TYPES[0] and fired["event_type"] in config["event_types"]
                assert fired["event_id"] == event.event_id and fired["revision"] == 1
                assert fired["mugshot_topic"] in messages and fired["crop_topic"] in messages
                assert fired["profile_topic"] in messages and fired["view"] == event.view
            elif config.get("device_class") == "timestamp":
                assert datetime.fromisoformat(rendered).tzinfo is not None, (topic, rendered)
            elif config.get("state_class"):
                assert rendered == "None" or float(rendered) >= 0, (topic, rendered)  # None: unknown
        if "json_attributes_template" in config:
            attrs = json.loads(render(config["json_attributes_template"], messages[config["json_attributes_topic"]]))
            assert attrs["event_id"] == event.event_id
        for item in config["availability"]:
            assert render(item["value_template"], b"online") == "online"
            assert render(item["value_template"], b"stopped") == "offline"
            assert render(item["value_template"], b"offline") == "offline"
    # Every image entity shows a JPEG the box published, the latest profile among them
    images = {c["unique_id"]: messages.get(c["image_topic"]) for t, c in configs.items() if "/image/" in t}
    assert set(images) == {"mugshot_box1_door_mugshot", "mugshot_box1_door_crop", "mugshot_box1_door_profile"}
    assert all(data and data[:3] == b"\xff\xd8\xff" for data in images.values())
    assert images["mugshot_box1_door_profile"] == messages[f"mugshot/box1/door/images/{event.event_id}/profile"]
    (fires,) = [c for t, c in configs.items() if t.startswith("homeassistant/event/")]
    plain = json.loads(render(fires["value_template"], json.dumps(make_event(2).encode().metadata).encode()))
    assert plain["profile_topic"] is None and plain["view"] in ("frontal", "three-quarter", "profile")
    stats = json.loads(messages["mugshot/box1/stats"])
    assert stats["frames"] == 40 and stats["events"] == 1 and stats["broker"] == "connected"
    recorder.stop()


def test_a_camera_removed_from_the_config_is_cleared(broker, tmp_path):
    first = publisher_for(broker, tmp_path, cameras=("door", "garage"))
    assert first.connection.connected.wait(10)
    first.close()
    before = retained_configs(broker.port)
    assert any("_garage_" in t for t in before) and any("_door_" in t for t in before)

    second = publisher_for(broker, tmp_path, cameras=("door",))  # same state directory, garage gone
    assert second.connection.connected.wait(10)
    second.close()
    after = retained_configs(broker.port)
    assert not any("_garage_" in t for t in after)
    assert {t for t in before if "_garage_" not in t} == set(after)

    third = publisher_for(broker, tmp_path, discovery=False)  # discovery switched off: nothing stays announced
    assert third.connection.connected.wait(10)
    third.close()
    assert retained_configs(broker.port) == {}


def test_motion_is_true_on_every_connect_and_off_after_a_clean_stop(broker, tmp_path):
    # A box killed while someone walked past left ON retained.
    stale = Recorder(broker.port, topics=[])
    stale.connection.wait_for_acks([stale.connection.publish("mugshot/box1/door/motion", b"ON", retain=True)], 5)
    stale.stop()
    publisher = publisher_for(broker, tmp_path, discovery=False)
    watcher = Recorder(broker.port, topics=["mugshot/box1/door/motion"])
    assert watcher.wait_for(lambda r: r.payloads("mugshot/box1/door/motion")[-1:] == [b"OFF"])
    publisher.motion("door", True)
    assert watcher.wait_for(lambda r: r.payloads("mugshot/box1/door/motion")[-1:] == [b"ON"])
    broker.stop()  # the broker restarts, its retained messages lost, while there is motion:
    for saved in broker.workdir.glob("*.db"):  # the reconnect says ON again
        saved.unlink()
    broker.start()
    assert publisher.connection.connected.wait(20)
    late = Recorder(broker.port, topics=["mugshot/box1/door/motion"])
    assert late.wait_for(lambda r: r.payloads("mugshot/box1/door/motion")[-1:] == [b"ON"])
    publisher.close()
    assert late.wait_for(lambda r: r.payloads("mugshot/box1/door/motion")[-1:] == [b"OFF"])
    for r in (watcher, late):
        r.stop()


def test_cpu_temperature_prefers_the_cpu_zone(tmp_path):
    assert cpu_temperature(tmp_path) is None  # a box without thermal zones
    for i, (kind, temp) in enumerate([("acpitz", "27800"), ("x86_pkg_temp", "51234"), ("iwlwifi_1", "bad")]):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(temp + "\n")
    assert cpu_temperature(tmp_path) == 51.2


def test_daemon_replay_publishes_retained_box_health(broker, tmp_path, shared_data):
    config = tmp_path / "config.toml"
    config.write_text(f'[device]\nid = "box1"\n[log]\nsummary_seconds = 0.5\n'
                      f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'spool_path = "spool.sqlite"\n')
    recorder = Recorder(broker.port, topics=["mugshot/box1/stats", "mugshot/box1/+/event"])
    result = subprocess.run([sys.executable, "-m", "edge", "replay", str(shared_data / "video" / "single_face.mp4"),
                             "--out", str(tmp_path / "local"), "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    recorder.stop()
    stats = [json.loads(p) for p in recorder.payloads("mugshot/box1/stats")]
    assert len(stats) >= 2  # at the start, and the final one (more while the clip ran)
    final = stats[-1]
    assert final["events"] == len(recorder.events()) > 0
    assert final["frames"] > 0 and final["spool_depth"] == 0 and final["broker"] == "connected"
    assert final["version"] and final["uptime_s"] > 0 and final["camera"] == "single_face"
    assert [s["frames"] for s in stats] == sorted(s["frames"] for s in stats)


def test_without_a_record_the_box_finds_its_old_configs_on_the_broker(broker, tmp_path):
    # What an earlier version (object_id, no record file) left retained: a camera since removed,
    # and another box's entity, which must stay.
    old = {"name": "garage mugshot", "image_topic": "mugshot/box1/garage/latest/mugshot",
           "unique_id": "mugshot_box1_garage_mugshot", "object_id": "mugshot_box1_garage_mugshot",
           "device": {"identifiers": ["mugshot_edge_box1"], "name": "Mugshot box1"}}
    other = old | {"device": {"identifiers": ["mugshot_edge_box2"]}, "unique_id": "mugshot_box2_garage_mugshot"}
    seed = Recorder(broker.port, topics=[])
    seed.connection.wait_for_acks([
        seed.connection.publish("homeassistant/image/mugshot_box1_garage_mugshot/config", json.dumps(old).encode(),
                                retain=True),
        seed.connection.publish("homeassistant/image/mugshot_box2_garage_mugshot/config",
                                json.dumps(other).encode(), retain=True)], 5)
    seed.stop()
    publisher = publisher_for(broker, tmp_path, cameras=("door",))
    cleared = Recorder(broker.port, topics=["homeassistant/image/+/config"])
    assert cleared.wait_for(lambda r: b"" in r.payloads("homeassistant/image/mugshot_box1_garage_mugshot/config"),
                            timeout=10)
    publisher.close()
    cleared.stop()
    left = retained_configs(broker.port)
    assert "homeassistant/image/mugshot_box1_garage_mugshot/config" not in left
    assert "homeassistant/image/mugshot_box2_garage_mugshot/config" in left
    assert "homeassistant/image/mugshot_box1_door_mugshot/config" in left
