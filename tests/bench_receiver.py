"""Receiver throughput against a real mosquitto, with an empty folder and with 10,000 events
stored, side by side in one run:

    .venv/bin/python -m tests.bench_receiver [--events 600] [--stored 10000]

- live: boxes (the real MqttPublisher: spool, QoS 1, one event in flight) publish as fast as
  they can while ``mugshot-receive`` runs; prints each side's events/s and how many arrived.
- drain: the events are queued by the broker while the receiver is away, then it starts:
  its own sustained intake rate, not limited by the boxes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edge.config import MqttPublisherConfig
from edge.local_broker import Broker
from edge.publish.mqtt import MqttPublisher
from edge.receiver.intake import Receiver
from tests.helpers import make_event

ROOT = Path(__file__).resolve().parents[1]


def stored_count(out: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{out / 'index.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT value FROM totals WHERE name='events'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def prefill(out: Path, count: int, base) -> None:
    receiver = Receiver(out, fsync=False)
    encoded = base[0].encode()
    for i in range(count):
        eid = f"old{i:08d}"
        for name, data in encoded.images.items():
            receiver.handle(f"mugshot/old/door/images/{eid}/{name}", data)
        meta = encoded.metadata | {"event_id": eid, "device": "old"}
        receiver.handle("mugshot/old/door/event", json.dumps(meta).encode())
    receiver.close()


def start_receiver(port: int, out: Path, client_id: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "edge.receive", "--broker", f"127.0.0.1:{port}", "--out",
                                str(out), "--client-id", client_id, "--log-level", "warning"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    return process


def wait_subscribed(port: int, out: Path, client_id: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "edge.receive", "--broker", f"127.0.0.1:{port}", "--out",
                                str(out), "--client-id", client_id], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in iter(process.stderr.readline, ""):
        if "subscribed to" in line:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # keep draining
            return process
    raise RuntimeError("receiver did not subscribe")


def publish(port: int, workdir: Path, boxes: int, per_box: int, base, tag: str) -> float:
    """Publish ``boxes * per_box`` events, one thread per box; seconds until every spool drained."""
    publishers = [MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=port, discovery=False,
                                                    spool_path=str(workdir / f"spool-{tag}-{b}.sqlite")),
                                device_id=f"{tag}{b}", cameras=["door"]) for b in range(boxes)]
    for p in publishers:
        p.connection.connected.wait(10)

    def run(b: int, publisher: MqttPublisher) -> None:
        for i in range(per_box):
            event = base[i % len(base)]
            publisher.publish(dataclasses.replace(event, event_id=f"{tag}{b}e{i:06d}", device=f"{tag}{b}"))
        while publisher.spool.depth()[0]:
            time.sleep(0.002)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(b, p)) for b, p in enumerate(publishers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    for p in publishers:
        p.close(drain_seconds=0)
    return elapsed


def wait_stored(out: Path, target: int, started: float | None, idle: float = 10.0) -> tuple[int, float]:
    """Wait until ``target`` events are stored (or nothing changed for ``idle`` s): the count and the
    seconds from ``started`` (None: from the first event stored) to the last one stored."""
    last, last_change = stored_count(out), time.monotonic()
    while last < target and time.monotonic() - last_change < idle:
        time.sleep(0.005)
        now = stored_count(out)
        if now != last:
            if started is None:
                started = time.monotonic()  # (the first event is then not counted in the rate)
            last, last_change = now, time.monotonic()
    return last, last_change - started


def case(workdir: Path, base, stored: int, events: int) -> dict:
    broker = Broker(workdir / "broker")
    broker.config.write_text(broker.config.read_text() + "max_queued_messages 100000\n")
    broker.start()
    out = workdir / "out"
    if stored:
        prefill(out, stored, base)
    results = {}
    try:
        for boxes in (1, 4):
            receiver = wait_subscribed(broker.port, out, f"bench-live-{boxes}")
            before = stored_count(out)
            started = time.monotonic()
            box_seconds = publish(broker.port, workdir, boxes, events // boxes, base, f"live{boxes}b")
            got, seconds = wait_stored(out, before + events, started)
            receiver.terminate()
            receiver.wait(10)
            results[f"live {boxes} box{'es' if boxes > 1 else ''}"] = (events / box_seconds, (got - before) / seconds,
                                                                       got - before)
        # drain: queue while the receiver is away (its persistent session), then start it
        receiver = wait_subscribed(broker.port, out, "bench-drain")
        receiver.terminate()
        receiver.wait(10)
        box_seconds = publish(broker.port, workdir, 4, events // 4, base, "drain")
        before = stored_count(out)
        receiver = start_receiver(broker.port, out, "bench-drain")
        got, seconds = wait_stored(out, before + events, None)  # from its first stored event to its last
        receiver.terminate()
        receiver.wait(10)
        results["drain (queued, then read)"] = (events / box_seconds, (got - before - 1) / seconds, got - before)
    finally:
        broker.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--stored", type=int, default=10_000)
    args = parser.parse_args()
    base = [make_event(i) for i in range(8)]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-receiver-", dir=os.environ.get("BENCH_DIR")) as tmp:
        for stored in (0, args.stored):
            t = time.monotonic()
            rows[stored] = case(Path(tmp) / f"s{stored}", base, stored, args.events)
            print(f"  (case with {stored} stored took {time.monotonic() - t:.0f} s)", file=sys.stderr)
    print(f"[receiver bench] {args.events} events per row, real mosquitto and MqttPublisher, loopback")
    print(f"{'':28} {'stored before':>13} {'box ev/s':>9} {'receiver ev/s':>14} {'arrived':>9}")
    for name in rows[0]:
        for stored in rows:
            box, recv, got = rows[stored][name]
            print(f"{name:28} {stored:>13} {box:>9.0f} {recv:>14.0f} {got:>5}/{args.events}")
        ratio = rows[args.stored][name][1] / rows[0][name][1]
        print(f"{'':28} receiver rate with {args.stored} stored / with 0 stored: {ratio:.2f}")


if __name__ == "__main__":
    main()
