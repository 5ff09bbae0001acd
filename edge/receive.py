"""``mugshot-receive``: subscribe to camera boxes and keep every mugshot as files plus a gallery.

Each event is written as ``<event_id>.json`` with ``<event_id>_mugshot.jpg`` and
``<event_id>_crop.jpg`` once its JSON and all its images have arrived and every image
matches the sha256 the JSON names.  Duplicates (same event id and revision, as QoS 1
may deliver after a reconnect) are dropped; malformed, oversized or mismatching
messages are logged and skipped.  ``index.html`` shows the events, newest first.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import logging
import re
import signal
import socket
import sys
import threading
from collections import OrderedDict
from pathlib import Path

from .config import ConfigError
from .publish.directory import write_atomic
from .publish.mqtt_connection import ConnectionSettings, MqttConnection, read_password

log = logging.getLogger("edge.receive")

EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
IMAGE_NAMES = ("mugshot", "crop")
MAX_PENDING = 256  # incomplete events kept while their other parts are on the way
GALLERY_SIZE = 500


class Receiver:
    def __init__(self, out: str | Path, max_bytes: int = 5_000_000):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.pending: OrderedDict[str, dict] = OrderedDict()  # event_id -> {"meta": ..., "images": {...}}
        self.stored = 0
        self.duplicates = 0
        self.rejected = 0
        self.lock = threading.Lock()
        self.subscribed = threading.Event()  # set when the broker acknowledged the subscriptions

    def handle(self, topic: str, payload: bytes) -> None:
        if len(payload) > self.max_bytes:
            return self._reject(f"{topic}: {len(payload)} bytes is over the {self.max_bytes}-byte limit")
        parts = topic.split("/")
        with self.lock:
            if len(parts) >= 4 and parts[-3] == "images":
                event_id, name = parts[-2], parts[-1]
                if not EVENT_ID.match(event_id) or name not in IMAGE_NAMES:
                    return self._reject(f"{topic}: not an image topic of an event")
                self._entry(event_id)["images"][name] = payload
            elif parts[-1] == "event":
                meta = self._parse_event(topic, payload)
                if meta is None:
                    return
                entry = self._entry(meta["event_id"])
                if entry["meta"] is None or meta["revision"] >= entry["meta"]["revision"]:
                    entry["meta"] = meta
                event_id = meta["event_id"]
            else:
                return
            self._complete(event_id)

    def _entry(self, event_id: str) -> dict:
        entry = self.pending.setdefault(event_id, {"meta": None, "images": {}})
        self.pending.move_to_end(event_id)
        while len(self.pending) > MAX_PENDING:
            dropped, _ = self.pending.popitem(last=False)
            log.warning("event %s never completed: dropped its parts", dropped)
        return entry

    def _parse_event(self, topic: str, payload: bytes) -> dict | None:
        try:
            meta = json.loads(payload.decode("utf-8"))
            ok = (isinstance(meta, dict) and isinstance(meta.get("event_id"), str)
                  and EVENT_ID.match(meta["event_id"]) and isinstance(meta.get("revision"), int)
                  and isinstance(meta.get("images"), dict)
                  and all(isinstance(meta["images"].get(n, {}).get("sha256"), str) for n in IMAGE_NAMES))
        except (UnicodeDecodeError, ValueError, AttributeError):
            ok = False
        if not ok:
            self._reject(f"{topic}: malformed event JSON ({len(payload)} bytes)")
            return None
        return meta

    def _complete(self, event_id: str) -> None:
        entry = self.pending.get(event_id)
        if entry is None or entry["meta"] is None or any(n not in entry["images"] for n in IMAGE_NAMES):
            return
        meta = entry["meta"]
        for name in IMAGE_NAMES:
            digest = hashlib.sha256(entry["images"][name]).hexdigest()
            if digest != meta["images"][name]["sha256"]:
                del self.pending[event_id]
                return self._reject(f"event {event_id}: {name} sha256 {digest[:12]} does not match the "
                                    f"event's {meta['images'][name]['sha256'][:12]}: not stored")
        del self.pending[event_id]
        existing = self.out / f"{event_id}.json"
        if existing.exists():
            try:
                if json.loads(existing.read_text()).get("revision", 0) >= meta["revision"]:
                    self.duplicates += 1
                    log.debug("duplicate of event %s revision %d dropped", event_id, meta["revision"])
                    return
            except ValueError:
                pass  # a damaged earlier file is replaced
        for name in IMAGE_NAMES:
            write_atomic(self.out / f"{event_id}_{name}.jpg", entry["images"][name])
        write_atomic(existing, json.dumps(meta, indent=2).encode("utf-8"))
        self.stored += 1
        log.info("event %s rev %d from %s/%s stored", event_id, meta["revision"], meta.get("device"),
                 meta.get("camera"))
        write_gallery(self.out)

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        log.warning("skipped: %s", reason)


def write_gallery(folder: Path) -> None:
    events = []
    for path in folder.glob("*.json"):
        try:
            events.append(json.loads(path.read_text()))
        except ValueError:
            continue
    events.sort(key=lambda m: str(m.get("best_seen", "")), reverse=True)
    rows = []
    for m in events[:GALLERY_SIZE]:
        eid = html.escape(str(m["event_id"]))
        pose = m.get("pose", {})
        rows.append(
            f'<figure><img src="{eid}_mugshot.jpg" alt="mugshot"><img src="{eid}_crop.jpg" alt="crop">'
            f'<figcaption>{html.escape(str(m.get("best_seen", "")))} · {html.escape(str(m.get("device", "")))}/'
            f'{html.escape(str(m.get("camera", "")))} · yaw {pose.get("yaw", "?")} · '
            f'generator {html.escape(str(m.get("generator", "")))}</figcaption></figure>')
    page = ("<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=10><title>Mugshots</title>"
            "<style>body{font-family:sans-serif}figure{display:inline-block;margin:6px}"
            "img{width:160px;height:160px}</style>"
            f"<h1>Mugshots ({len(events)})</h1>\n" + "\n".join(rows) + "\n")
    write_atomic(folder / "index.html", page.encode("utf-8"))


def start_receiving(settings: ConnectionSettings, out: str | Path, prefix: str = "mugshot/+",
                    max_bytes: int = 5_000_000) -> tuple[Receiver, MqttConnection]:
    """Subscribe to the boxes under ``prefix`` and store their events in ``out``."""
    receiver = Receiver(out, max_bytes)
    filters = [f"{prefix}/+/event", f"{prefix}/+/images/+/+"]

    def acknowledged(*_) -> None:
        log.info("subscribed to %s", ", ".join(filters))
        receiver.subscribed.set()

    def subscribe(client) -> None:
        client.on_subscribe = acknowledged
        client.subscribe([(f, 1) for f in filters])

    connection = MqttConnection(settings, on_connected=subscribe,
                                on_message=lambda message: receiver.handle(message.topic, message.payload))
    write_gallery(receiver.out)
    connection.start()
    return receiver, connection


def parse_broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "0")
    try:
        return host, int(port or 0)
    except ValueError:
        raise ConfigError("--broker", f"expected HOST or HOST:PORT, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mugshot-receive", description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="HOST or HOST:PORT")
    parser.add_argument("--out", required=True, help="folder for events and index.html")
    parser.add_argument("--prefix", default="mugshot/+", help="topic prefix of the boxes (default: all devices)")
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default="5")
    parser.add_argument("--client-id", default=f"mugshot-receive-{socket.gethostname()}")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--ca-file", default="")
    parser.add_argument("--cert-file", default="")
    parser.add_argument("--key-file", default="")
    parser.add_argument("--username", default="")
    parser.add_argument("--password-file", default="", help="file holding the password")
    parser.add_argument("--password-env", default="", help="environment variable holding the password")
    parser.add_argument("--max-bytes", type=int, default=5_000_000, help="larger messages are skipped")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        host, port = parse_broker(args.broker)
        password = read_password(args.password_file, args.password_env, "receiver")
    except ConfigError as exc:
        log.error("%s", exc)
        return 78
    settings = ConnectionSettings(host=host, port=port, protocol=args.protocol, client_id=args.client_id,
                                  tls=args.tls, ca_file=args.ca_file, cert_file=args.cert_file,
                                  key_file=args.key_file, username=args.username, password=password,
                                  persistent_session=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    receiver, connection = start_receiving(settings, args.out, args.prefix, args.max_bytes)
    log.info("receiving from %s into %s", settings.address, receiver.out)
    stop.wait()
    connection.stop()
    log.info("stopped: %d stored, %d duplicates dropped, %d messages skipped", receiver.stored,
             receiver.duplicates, receiver.rejected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
