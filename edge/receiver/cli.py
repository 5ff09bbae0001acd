"""The ``mugshot-receive`` command line."""
from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading

from .. import __version__
from ..config import ConfigError
from ..publish.mqtt_connection import ConnectionSettings, read_password
from .index import format_ranges
from .intake import PendingLimits
from .retention import RetentionPolicy
from .subscribe import start_receiving, stop_receiving

log = logging.getLogger("edge.receiver")


def parse_broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "0")
    try:
        return host, int(port or 0)
    except ValueError:
        raise ConfigError("--broker", f"expected HOST or HOST:PORT, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mugshot-receive",
                                     description="subscribe to camera boxes and keep every mugshot")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--broker", required=True, help="HOST or HOST:PORT")
    parser.add_argument("--out", required=True, help="folder for events, index.sqlite and index.html")
    parser.add_argument("--prefix", default="mugshot/+", help="topic prefix of the boxes (default: all devices)")
    parser.add_argument("--share-group", default="", metavar="GROUP",
                        help="MQTT 5 shared subscription $share/GROUP/...: receivers of a group split the "
                             "messages (they must share --out)")
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
    parser.add_argument("--pending-events", type=int, default=256, help="incomplete events kept at most")
    parser.add_argument("--pending-bytes", type=int, default=64_000_000, help="bytes of incomplete events kept at most")
    parser.add_argument("--pending-seconds", type=float, default=120.0,
                        help="how long parts wait for the rest of their event")
    parser.add_argument("--keep-days", type=float, default=0.0, help="delete events older than this (0: keep)")
    parser.add_argument("--keep-events", type=int, default=0, help="keep at most this many events (0: no limit)")
    parser.add_argument("--keep-bytes", type=int, default=0, help="keep at most this many bytes (0: no limit)")
    parser.add_argument("--http", default="", metavar="HOST:PORT",
                        help="serve the web gallery, e.g. 127.0.0.1:8080 (needs the 'receiver' extra)")
    parser.add_argument("--auth-token-file", default="", help="file holding the web password/token")
    parser.add_argument("--auth-token-env", default="", help="environment variable holding the web password/token")
    parser.add_argument("--no-people", action="store_true",
                        help="no face embeddings and no grouping into people (docs/receiver.md, People)")
    parser.add_argument("--people-threshold", type=float, default=None, metavar="COSINE",
                        help="similarity for a face to join a person (default: the measured one)")
    parser.add_argument("--publish-names", action="store_true",
                        help="publish a named person's events to <base>/<device>/<camera>/person (off by default)")
    parser.add_argument("--reconnect-max", type=float, default=10.0,
                        help="longest wait between reconnect attempts, seconds (it starts afresh after a "
                             "connection that stayed up)")
    parser.add_argument("--stats-seconds", type=float, default=30.0,
                        help="how often the boxes' retained stats are read again (a missing tail of events "
                             "shows without waiting for a later event)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def _check(args) -> None:
    for key in ("max_bytes", "pending_events", "pending_bytes"):
        if getattr(args, key) < 1:
            raise ConfigError(f"--{key.replace('_', '-')}", f"must be 1 or more, got {getattr(args, key)}")
    if args.reconnect_max < 1:
        raise ConfigError("--reconnect-max", f"must be 1 or more, got {args.reconnect_max}")
    if args.stats_seconds <= 0:
        raise ConfigError("--stats-seconds", f"must be more than 0, got {args.stats_seconds}")
    for key in ("pending_seconds", "keep_days", "keep_events", "keep_bytes"):
        if getattr(args, key) < 0:
            raise ConfigError(f"--{key.replace('_', '-')}", f"must be 0 or more, got {getattr(args, key)}")
    if args.people_threshold is not None and not 0 < args.people_threshold < 1:
        raise ConfigError("--people-threshold", f"must be between 0 and 1, got {args.people_threshold}")
    if args.share_group and (args.protocol != "5" or any(c in args.share_group for c in "/+#")):
        raise ConfigError("--share-group", "needs --protocol 5 and a name without '/', '+' or '#'")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        _check(args)
        host, port = parse_broker(args.broker)
        password = read_password(args.password_file, args.password_env, "receiver")
        web = None
        if args.http:
            from .web_config import web_settings  # fails with the extra to install when missing

            web = web_settings(args.http, args.auth_token_file, args.auth_token_env)
    except ConfigError as exc:
        log.error("%s", exc)
        return 78
    settings = ConnectionSettings(host=host, port=port, protocol=args.protocol, client_id=args.client_id,
                                  tls=args.tls, ca_file=args.ca_file, cert_file=args.cert_file,
                                  key_file=args.key_file, username=args.username, password=password,
                                  persistent_session=True, reconnect_max=args.reconnect_max)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        receiver, connection = start_receiving(
            settings, args.out, args.prefix, args.max_bytes, share_group=args.share_group,
            pending=PendingLimits(args.pending_events, args.pending_bytes, args.pending_seconds),
            retention=RetentionPolicy(args.keep_days, args.keep_events, args.keep_bytes),
            stats_every=args.stats_seconds)
    except OSError as exc:
        log.error("--out: cannot use %s: %s", args.out, exc)
        return 73
    people = None
    if not args.no_people:
        from ..vision.model_files import ModelError
        from .people.service import PeopleService, name_announcer

        announce = name_announcer(connection, args.prefix.rsplit("/", 1)[0] or "mugshot") \
            if args.publish_names else None
        try:
            people = receiver.people = PeopleService(receiver.store, args.people_threshold,
                                                     on_person=announce).start()
        except ModelError as exc:
            log.error("%s", exc)
            stop_receiving(receiver, connection)
            return 78
    server = None
    if web is not None:
        from .web import serve

        try:
            server = serve(receiver, web)
        except OSError as exc:
            log.error("--http: %s", exc)
            if people is not None:
                people.stop()
            stop_receiving(receiver, connection)
            return 69
    log.info("receiving from %s into %s", settings.address, receiver.out)
    stop.wait()
    if server is not None:
        server.stop()
    if people is not None:
        people.stop()
    stop_receiving(receiver, connection)
    stored, duplicates, rejected = receiver.stored, receiver.duplicates, receiver.rejected
    missing = receiver.missing_at_close
    lost = "; ".join(f"{device} {n} ({format_ranges(ranges)}{', ...' if n > sum(b - a + 1 for a, b in ranges) else ''})"
                     for device, (n, ranges) in sorted(missing.items()))
    log.info("stopped: %d stored, %d duplicates dropped, %d messages skipped, %d events missing%s", stored,
             duplicates, rejected, sum(n for n, _ in missing.values()), f": {lost}" if lost else "")
    return 0
