"""The receiver's web app with a small and a large store, side by side in one run: milliseconds per
request (median of ``--repeats``) for the gallery, the first and the last page of ``/api/events``
(the cursor: no OFFSET scan), a search, a day's timeline, a CSV export of everything, and a delete:

    .venv/bin/python -m tests.bench_receiver_web [--small 100] [--large 10000] [--repeats 15]

Stores are filled through ``Receiver.handle`` (the receiver's own intake, no fsync), with
events spread over 3 boxes, 3 cameras, 3 views and 10 days; requests go through Starlette's
test client (the app's own work, no network).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from edge.receiver.intake import Receiver
from edge.receiver.web import create_app
from tests.helpers import make_event


def fill(out: Path, count: int, encoded) -> tuple[Receiver, float]:
    """A store of ``count`` events; the intake's events per second while filling it."""
    receiver = Receiver(out, fsync=False)
    started = time.perf_counter()
    for i in range(count):
        device, camera = f"box{i % 3}", ("door", "yard", "gate")[i // 3 % 3]
        meta = encoded.metadata | {"event_id": f"e{i:07d}", "device": device, "camera": camera,
                                   "best_seen": f"2026-12-{1 + i * 10 // max(count, 1):02d}T"
                                                f"{i % 24:02d}:{i % 60:02d}:00.000Z",
                                   "pose": encoded.metadata["pose"] | {"yaw": (0.0, 40.0, -80.0)[i // 9 % 3]}}
        for name, data in encoded.images.items():
            receiver.handle(f"mugshot/{device}/{camera}/images/{meta['event_id']}/{name}", data)
        receiver.handle(f"mugshot/{device}/{camera}/event", json.dumps(meta).encode())
    return receiver, count / (time.perf_counter() - started) if count else 0.0


def timed(client: TestClient, method: str, url: str, repeats: int) -> float:
    client.request(method, url)  # warm: templates compiled, pages cached by SQLite
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.request(method, url)
        times.append(time.perf_counter() - started)
        assert answer.status_code in (200, 204, 404), (url, answer.status_code, answer.text[:200])
    return statistics.median(times) * 1000


def measure(receiver: Receiver, count: int, repeats: int) -> dict[str, float]:
    client = TestClient(create_app(receiver, extensions=()))
    last = client.get("/api/events", params={"limit": 60})
    cursor = None
    while True:  # walk to the last page once: its cursor
        answer = client.get("/api/events", params={"limit": 500} | ({"before": cursor} if cursor else {})).json()
        if answer["next"] is None:
            break
        cursor = answer["next"]
    assert last.status_code == 200
    rows = {
        "gallery page /": timed(client, "GET", "/", repeats),
        "first page /api/events": timed(client, "GET", "/api/events?limit=60", repeats),
        "last page (cursor)": timed(client, "GET", f"/api/events?limit=60&before={cursor or 1}", repeats),
        "search camera+view+range": timed(client, "GET", "/api/events?camera=yard&view=profile&since=2026-12-03"
                                                         "&until=2026-12-06", repeats),
        "timeline of a day": timed(client, "GET", "/timeline?day=2026-12-05", repeats),
        "export CSV, all": timed(client, "GET", "/api/export?format=csv", max(3, repeats // 5)),
    }
    ids = [e["event_id"] for e in client.get("/api/events", params={"limit": repeats}).json()["events"]]
    deletes = []
    for event_id in ids:
        device = receiver.store.index.query("SELECT device FROM events WHERE event_id=?", (event_id,))[0][0]
        started = time.perf_counter()
        assert client.delete(f"/api/events/{device}/{event_id}").status_code == 204
        deletes.append(time.perf_counter() - started)
    rows["delete an event"] = statistics.median(deletes) * 1000 if deletes else float("nan")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    encoded = make_event(1).encode()
    results, fill_rates = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-receiver-web-", dir=os.environ.get("BENCH_DIR")) as tmp:
        stores = {}
        for n in (args.small, args.large):
            stores[n], fill_rates[n] = fill(Path(tmp) / f"s{n}", n, encoded)
        for n in (args.small, args.large):
            results[n] = measure(stores[n], n, args.repeats)
            stores[n].close()
    print(f"[receiver web bench] ms per request, median of {args.repeats} (export: of {max(3, args.repeats // 5)});"
          f" Starlette test client, one process")
    print(f"{'':26} {args.small:>10} {args.large:>10}   ratio")
    for row in results[args.small]:
        a, b = results[args.small][row], results[args.large][row]
        print(f"{row:26} {a:>10.2f} {b:>10.2f}   {b / a:5.2f}")
    print(f"{'intake while filling ev/s':26} {fill_rates[args.small]:>10.0f} {fill_rates[args.large]:>10.0f}   "
          f"{fill_rates[args.large] / fill_rates[args.small]:5.2f}")


if __name__ == "__main__":
    main()
