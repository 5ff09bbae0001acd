"""Receiver throughput against a real mosquitto, with an empty folder and with 10,000 events
stored, side by side in one run:

    .venv/bin/python -m tests.bench_receiver [--events 600] [--stored 10000]

- live: boxes (the real MqttPublisher: spool, QoS 1, one event in flight) publish as fast as
  they can while ``mugshot-receive`` runs; prints each side's events/s and how many arrived.
- drain: the events are queued by the broker while the receiver is away, then it starts:
  its own sustained intake rate, not limited by the boxes.
- intake: ``Receiver.handle`` called in this process (no broker, no syncfs): the work per
  event alone, the least disturbed by other load on the machine.
Each row runs ``--repeats`` times, the empty and the full folder alternating.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edge.config import MqttPublisherConfig
from edge.tools.local_broker import Broker
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
    process = subprocess.Popen([sys.executable, "-m", "edge.receiver", "--broker", f"127.0.0.1:{port}", "--out",
                                str(out), "--client-id", client_id, "--log-level", "warning"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    return process


def wait_subscribed(port: int, out: Path, client_id: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "edge.receiver", "--broker", f"127.0.0.1:{port}", "--out",
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


class Setup:
    """A broker (with a queue deep enough to hold a whole drain) and an output folder."""

    def __init__(self, workdir: Path, base, stored: int):
        self.workdir, self.stored = workdir, stored
        self.broker = Broker(workdir / "broker")
        self.broker.config.write_text(self.broker.config.read_text() + "max_queued_messages 100000\n")
        self.broker.start()
        self.out = workdir / "out"
        if stored:
            prefill(self.out, stored, base)
        self.runs = 0

    def live(self, base, boxes: int, events: int) -> tuple[float, float, int]:
        self.runs += 1
        receiver = wait_subscribed(self.broker.port, self.out, f"bench-live-{self.runs}")
        before = stored_count(self.out)
        started = time.monotonic()
        box_seconds = publish(self.broker.port, self.workdir, boxes, events // boxes, base, f"l{self.runs}b")
        got, seconds = wait_stored(self.out, before + events, started)
        receiver.terminate()
        receiver.wait(10)
        return events / box_seconds, (got - before) / seconds, got - before

    def drain(self, base, events: int) -> tuple[float, float, int]:
        """Queue while the receiver is away (its persistent session), then start it."""
        self.runs += 1
        client = f"bench-drain-{self.runs}"
        receiver = wait_subscribed(self.broker.port, self.out, client)
        receiver.terminate()
        receiver.wait(10)
        box_seconds = publish(self.broker.port, self.workdir, 4, events // 4, base, f"d{self.runs}b")
        before = stored_count(self.out)
        receiver = start_receiver(self.broker.port, self.out, client)
        got, seconds = wait_stored(self.out, before + events, None)  # from its first stored event to its last
        receiver.terminate()
        receiver.wait(10)
        return events / box_seconds, (got - before - 1) / seconds, got - before

    def intake(self, base, events: int) -> tuple[float, float, int]:
        """``Receiver.handle`` in this process, no broker: the work per event alone."""
        self.runs += 1
        receiver, encoded = Receiver(self.out, fsync=False), base[0].encode()
        before = stored_count(self.out)
        started = time.perf_counter()
        for i in range(events):
            eid = f"in{self.runs}e{i:06d}"
            for name, data in encoded.images.items():
                receiver.handle(f"mugshot/intake/door/images/{eid}/{name}", data)
            receiver.handle("mugshot/intake/door/event",
                            json.dumps(encoded.metadata | {"event_id": eid, "device": "intake"}).encode())
        seconds = time.perf_counter() - started
        receiver.close()
        return 0.0, events / seconds, stored_count(self.out) - before

    def stop(self) -> None:
        self.broker.stop()


def fsync_ms(folder: Path, count: int = 30) -> float:
    """This disk's fsync latency for a 15 kB file (the receiver does three per event)."""
    data, started = os.urandom(15_000), time.perf_counter()
    for i in range(count):
        fd = os.open(folder / f"fsync{i}", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
    return (time.perf_counter() - started) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each row, the two folders alternating")
    args = parser.parse_args()
    base = [make_event(i) for i in range(8)]
    rows: dict[tuple[str, int], list] = {}
    with tempfile.TemporaryDirectory(prefix="bench-receiver-", dir=os.environ.get("BENCH_DIR")) as tmp:
        disk = fsync_ms(Path(tmp))
        setups = [Setup(Path(tmp) / f"s{n}", base, n) for n in (0, args.stored)]
        try:
            for _ in range(args.repeats):
                for setup in setups:  # alternating, so that the machine's load hits both alike
                    for name, run in (("live, 1 box", lambda: setup.live(base, 1, args.events)),
                                      ("live, 4 boxes", lambda: setup.live(base, 4, args.events)),
                                      ("drain", lambda: setup.drain(base, args.events)),
                                      ("intake", lambda: setup.intake(base, args.events))):
                        rows.setdefault((name, setup.stored), []).append(run())
        finally:
            for setup in setups:
                setup.stop()
    print(f"[receiver bench] {args.events} events per run, {args.repeats} runs per row (median, min-max), real "
          f"mosquitto and MqttPublisher on loopback; fsync of a 15 kB file here: {disk:.1f} ms")
    print(f"{'':14} {'stored before':>13} {'boxes ev/s':>14} {'receiver ev/s':>16} {'arrived':>14}")
    for name in ("live, 1 box", "live, 4 boxes", "drain", "intake"):
        medians = {}
        for stored in (0, args.stored):
            runs = rows[(name, stored)]
            box, recv = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
            medians[stored] = statistics.median(recv)
            boxes = "" if name in ("drain", "intake") else f"{statistics.median(box):.0f} ({box[0]:.0f}-{box[-1]:.0f})"
            print(f"{name:14} {stored:>13} {boxes:>14} {medians[stored]:>6.0f} ({recv[0]:.0f}-{recv[-1]:.0f})"
                  f"{sum(r[2] for r in runs):>9}/{args.events * len(runs)}")
        print(f"{'':14} receiver rate with {args.stored} stored / with 0 stored: "
              f"{medians[args.stored] / medians[0]:.2f}")


if __name__ == "__main__":
    main()
