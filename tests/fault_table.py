"""The delivery fault table of docs/security.md: each fault of issue 24 played against a real
mosquitto with the real receiver process, and what became of the events.

    PYTHONPATH=$PWD .venv/bin/python tests/fault_table.py

A script, not a timed test (some rows take tens of seconds).  For each scenario: events sent by
the box, stored by the receiver, lost (sent - stored), counted (lost, and reported as missing or
refused by the receiver's stop line), and lost-and-uncounted, which must be 0 in every row.
"""
from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.config import MqttPublisherConfig  # noqa: E402
from edge.publish.mqtt import MqttPublisher  # noqa: E402
from edge.tools.local_broker import Broker  # noqa: E402
from tests.helpers import Recorder, make_event, wait  # noqa: E402

STOP_LINE = re.compile(r"stopped: (\d+) stored, (\d+) duplicates dropped, (\d+) messages skipped, (\d+) events missing")


def receiver(port: int, out: Path, *extra: str, client_id: str = "fault-table") -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "edge.receiver", "--broker", f"127.0.0.1:{port}", "--out",
                                str(out), "--client-id", client_id, "--stats-seconds", "1", *extra], cwd=ROOT,
                               stderr=subprocess.PIPE, text=True)
    for line in iter(process.stderr.readline, ""):
        if "subscribed to" in line:
            return process
    raise RuntimeError("the receiver did not start")


def stop(process: subprocess.Popen) -> tuple[int, int]:
    """Stop a receiver; (stored events, events it reports missing or skipped) from its stop line."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
    text = process.stderr.read()
    process.wait(30)
    match = STOP_LINE.search(text)
    if match is None:
        raise RuntimeError(f"no stop line: {text[-1500:]}")
    return int(match[4]), int(match[3])


def publisher(port: int, work: Path, device: str = "box1", camera: str = "door", names=None) -> MqttPublisher:
    return MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=port, discovery=False, reconnect_max=1.0,
                                             spool_path=str(work / f"spool-{device}.sqlite")),
                         device_id=device, cameras=[camera], names=names)


def events(n: int, start: int = 0, **kwargs):
    return [dataclasses.replace(make_event(i, **kwargs), sequence=i + 1) for i in range(start, start + n)]


def stored(out: Path, device: str = "box1") -> int:
    return len(list(out.glob(f"{device}/*.json")))


def names(work: Path) -> tuple[int, int, int, str]:
    from edge.names import slug
    broker = Broker(work / "b").start()
    out = work / "out"
    rx = receiver(broker.port, out)
    device, camera = slug("Haustür"), slug("front door")
    box = publisher(broker.port, work, device, camera, {device: "Haustür", camera: "front door"})
    sent = events(7, device=device, camera=camera)
    for e in sent:
        box.publish(dataclasses.replace(e, device_name="Haustür", camera_name="front door"))
    wait(lambda: stored(out, device) == 7, 30)
    box.close()
    missing, skipped = stop(rx)
    broker.stop()
    return 7, stored(out, device), missing + skipped, "box 'Haustür', camera 'front door'"


def restarts(work: Path) -> tuple[int, int, int, str]:
    broker = Broker(work / "b").start()
    out = work / "out"
    rx = receiver(broker.port, out)
    box = publisher(broker.port, work)
    box.health({"device": "box1"})
    sent = events(30)
    for cycle in range(6):  # six 1-second broker restarts while the box keeps seeing people
        for e in sent[cycle * 5:(cycle + 1) * 5]:
            box.publish(e)
        time.sleep(1.0)
        broker.stop()
        time.sleep(1.0)
        broker.start()
    wait(lambda: stored(out) == 30, 60)
    box.close()
    time.sleep(1.5)
    missing, skipped = stop(rx)
    broker.stop()
    return 30, stored(out), missing + skipped, "six 1 s broker restarts (persistence on)"


def slow_receiver(work: Path) -> tuple[int, int, int, str]:
    broker = Broker(work / "b")
    broker.config.write_text(broker.config.read_text() + "max_queued_messages 100\n")
    broker.start()
    out = work / "out"
    rx = receiver(broker.port, out)
    rx.send_signal(signal.SIGSTOP)  # a receiver that cannot keep up: the broker's queue (100) overflows
    box = publisher(broker.port, work)
    box.health({"device": "box1"})
    for e in events(150):
        box.publish(e)
    wait(lambda: box.spool.depth()[0] == 0, 60)
    box.close()
    rx.send_signal(signal.SIGCONT)
    time.sleep(5)
    missing, skipped = stop(rx)
    broker.stop()
    return 150, stored(out), missing + skipped, "receiver stalled, broker queue 100"


def absurd_sequence(work: Path) -> tuple[int, int, int, str]:
    broker = Broker(work / "b").start()
    out = work / "out"
    rx = receiver(broker.port, out)
    box = publisher(broker.port, work)
    sent = events(5)
    for e in sent[:4]:
        box.publish(e)
    box.publish(dataclasses.replace(sent[4], sequence=9 * 10**18))  # not a real number: refused, logged
    wait(lambda: box.spool.depth()[0] == 0, 30)
    time.sleep(1.0)
    box.close()
    missing, skipped = stop(rx)
    broker.stop()
    return 5, stored(out), missing + skipped, "one event numbered 9e18"


def killed_receiver(work: Path) -> tuple[int, int, int, str]:
    broker = Broker(work / "b").start()
    out = work / "out"
    rx = receiver(broker.port, out, client_id="killed")
    box = publisher(broker.port, work)
    for i, e in enumerate(events(60)):
        box.publish(e)
        if i == 20:
            wait(lambda: stored(out) >= 5, 30)
            rx.send_signal(signal.SIGKILL)
            rx.wait(10)
    wait(lambda: box.spool.depth()[0] == 0, 30)
    box.close()
    rx = receiver(broker.port, out, client_id="killed")
    wait(lambda: stored(out) == 60, 30)
    missing, skipped = stop(rx)
    broker.stop()
    return 60, stored(out), missing + skipped, "receiver SIGKILLed mid-stream"


def pictures_after_outage(work: Path) -> tuple[int, int, int]:
    """29 events queued in the spool during an outage: how many fire in Home Assistant with their own
    face as the latest picture (what a "notify me with the face" automation attaches)."""
    import hashlib
    broker = Broker(work / "b").start()
    ha = Recorder(broker.port, topics=["mugshot/box1/door/#"], client_id="ha")
    broker.stop()
    box = publisher(broker.port, work)
    for e in events(29):
        box.publish(e)
    broker.start()
    ha.wait_for(lambda r: len(r.events()) == 29, 60)
    latest, fired, own = None, 0, 0
    for topic, payload, _, retained in list(ha.messages):
        if topic.endswith("/latest/mugshot") and not retained:
            latest = hashlib.sha256(payload).hexdigest()
        elif topic.endswith("/door/event"):
            fired += 1
            own += latest == json.loads(payload)["images"]["mugshot"]["sha256"]
    box.close()
    ha.stop()
    broker.stop()
    return 29, fired, own


def main() -> int:
    rows = []
    for scenario in (names, restarts, slow_receiver, absurd_sequence, killed_receiver):
        with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
            sent, got, counted, what = scenario(Path(tmp))
        lost = sent - got
        rows.append((what, sent, got, lost, min(lost, counted), lost - min(lost, counted)))
        print(f"done: {what}", file=sys.stderr, flush=True)
    print("| scenario | sent | stored | lost | lost and counted | lost and uncounted |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        queued, fired, own = pictures_after_outage(Path(tmp))
    print()
    print("| Home Assistant after a broker outage | events queued | events fired | fired with their own face |")
    print("|---|---|---|---|")
    print(f"| latest picture follows each delivered event | {queued} | {fired} | {own} |")
    return 0 if all(row[-1] == 0 for row in rows) and own == fired == queued else 1


if __name__ == "__main__":
    sys.exit(main())
