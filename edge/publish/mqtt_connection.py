"""An MQTT connection that keeps itself up: TLS, credentials, reconnects with backoff and jitter.

Shared by the publisher and ``mugshot-receive``.  Its own network thread connects and
runs paho's loop; a refused connection (bad password, not authorised, wrong CA) is
logged once as one clear line with the broker's reason code, then retried with
exponential backoff, so a broker that is away never stops anything else.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from ..config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int = 0
    protocol: str = "5"
    client_id: str = ""
    keepalive: int = 60
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password: str | None = field(default=None, repr=False)  # already read from a file or the environment
    reconnect_max: float = 60.0
    # A connection that stayed up this long was a good one: the next reconnect starts the backoff afresh
    # (one that the broker drops at once, a refused ACL, keeps backing off).
    stable_seconds: float = 5.0
    persistent_session: bool = False  # the broker keeps our subscriptions and queues QoS>0 messages for us
    # No Nagle: with QoS 0 an event's second and third messages otherwise wait ~40 ms for the broker's
    # delayed ACK.  With QoS 1 the broker's PUBACKs carry the ACKs, and against a default Mosquitto
    # (set_tcp_nodelay false) TCP_NODELAY made delivery slower (30 events drained in 150-200 ms instead
    # of 60-100 ms), so the publisher sets it for QoS 0 only.
    tcp_nodelay: bool = False

    @property
    def effective_port(self) -> int:
        return self.port or (8883 if self.tls else 1883)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.effective_port}"


def read_password(password_file: str, password_env: str, key: str) -> str | None:
    """The broker password from a file or an environment variable (never the command line)."""
    if password_file:
        try:
            return Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}.password_file", f"cannot read {password_file}: {exc.strerror}") from None
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise ConfigError(f"{key}.password_env", f"environment variable {password_env} is not set")
        return value
    return None


def reconnect_delay(backoff: float, cap: float) -> float:
    """The wait before the next attempt: the backoff (capped), with jitter so boxes don't stampede."""
    return min(cap, backoff) * random.uniform(0.5, 1.0)


class MqttConnection:
    def __init__(self, settings: ConnectionSettings, *, will: tuple[str, bytes] | None = None,
                 on_connected: Callable[[mqtt.Client], None] | None = None,
                 on_message: Callable[[mqtt.MQTTMessage], None] | None = None):
        self.settings = settings
        self.connected = threading.Event()
        self.last_error = ""
        self.last_delay = 0.0  # the last wait before a reconnect attempt, seconds
        self._on_connected = on_connected
        self._on_message = on_message
        self._stop = threading.Event()
        self._up_since: float | None = None  # monotonic time of the last accepted connection
        self._thread: threading.Thread | None = None
        self._acks: dict[int, int] = {}  # mid -> PUBACK reason code value
        self._ack_cond = threading.Condition()
        protocol = MQTTProtocolVersion.MQTTv5 if settings.protocol == "5" else MQTTProtocolVersion.MQTTv311
        clean_session = None if settings.protocol == "5" else not settings.persistent_session
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=protocol,
                                  clean_session=clean_session)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
            if not settings.tls:  # once per connection, not at every reconnect
                log.warning("mqtt: username %r%s goes to %s without TLS: anyone on the network can read it "
                            "(set tls = true)", settings.username, " and its password" if settings.password else "",
                            settings.address)
        if settings.tls:
            self.client.tls_set(ca_certs=settings.ca_file or None, certfile=settings.cert_file or None,
                                keyfile=settings.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_publish = self._handle_publish
        self.client.on_message = self._handle_message

    @property
    def is_v5(self) -> bool:
        return self.settings.protocol == "5"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-network", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """A clean DISCONNECT (the broker then does not send the last will), and the thread ends."""
        self._stop.set()
        if self.connected.is_set():
            self.client.disconnect()
        if self._thread is not None:
            self._thread.join(timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                content_type: str = "", user_properties: dict[str, str] | None = None) -> mqtt.MQTTMessageInfo:
        properties = None
        if self.is_v5 and (content_type or user_properties):
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)
            if content_type:
                properties.ContentType = content_type
            if user_properties:
                properties.UserProperty = list(user_properties.items())
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def wait_for_acks(self, infos: list[mqtt.MQTTMessageInfo], timeout: float) -> bool | None:
        """True when the broker acknowledged all, False if it rejected any, None on timeout or disconnect."""
        if any(info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN) for info in infos):
            return None
        mids = [info.mid for info in infos]
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            with self._ack_cond:
                while not all(m in self._acks for m in mids):
                    if deadline.is_set() or not self.connected.is_set() or self._stop.is_set():
                        return None
                    self._ack_cond.wait(0.1)
                codes = [self._acks.pop(m) for m in mids]
        finally:
            timer.cancel()
        return all(code < 128 for code in codes)

    def forget(self, infos: list[mqtt.MQTTMessageInfo]) -> None:
        """Drop these messages from paho's own queue, which would otherwise send them again after a
        reconnect: the caller keeps what is undelivered (the spool) and re-sends it itself, and a
        message the broker refuses must not be retried behind the caller's back."""
        mids = {info.mid for info in infos}
        with self.client._out_message_mutex:  # paho has no public call for this
            for mid in mids:
                if self.client._out_messages.pop(mid, None) is not None:
                    self.client._inflight_messages = max(0, self.client._inflight_messages - 1)
        with self._ack_cond:
            for mid in mids:
                self._acks.pop(mid, None)

    def _connect_properties(self):
        if not self.settings.persistent_session:
            return None
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 7 * 24 * 3600
        return properties

    # --- paho callbacks (network thread) ---------------------------------------------
    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._report(f"broker {self.settings.address} refused the connection: {reason_code} "
                         f"(reason code {reason_code.value})")
            return
        self.last_error = ""
        self._up_since = time.monotonic()
        log.info("connected to MQTT broker %s (MQTT %s)", self.settings.address, self.settings.protocol)
        self.connected.set()
        if self._on_connected:
            self._on_connected(client)

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            (log.info if self._stop.is_set() else log.warning)(
                "disconnected from MQTT broker %s: %s", self.settings.address, reason_code)
        self.connected.clear()
        with self._ack_cond:
            self._ack_cond.notify_all()

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._ack_cond:
            self._acks[mid] = reason_code.value
            self._ack_cond.notify_all()

    def _handle_message(self, client, userdata, message) -> None:
        if self._on_message:
            try:
                self._on_message(message)
            except Exception:  # a bad message must never kill the network thread
                log.exception("error handling a message on %s", message.topic)

    def _report(self, error: str) -> None:
        if error != self.last_error:
            log.error("mqtt: %s", error)
        self.last_error = error

    def _set_nodelay(self) -> None:
        sock = self.client.socket()
        if sock is not None and self.settings.tcp_nodelay:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:  # not a TCP socket (a unix socket, a websocket wrapper)
                log.debug("TCP_NODELAY not set: %s", exc)

    # --- network thread ---------------------------------------------------------------
    def _run(self) -> None:
        backoff = 1.0
        s = self.settings
        while not self._stop.is_set():
            try:
                if s.protocol == "5":
                    self.client.connect(s.host, s.effective_port, s.keepalive, clean_start=not s.persistent_session,
                                        properties=self._connect_properties())
                else:
                    self.client.connect(s.host, s.effective_port, s.keepalive)
            except ssl.SSLCertVerificationError as exc:
                self._report(f"TLS to {s.address} failed: certificate verify failed: {exc.verify_message} (check ca_file)")
            except ssl.SSLError as exc:
                self._report(f"TLS to {s.address} failed: {exc.reason or exc}")
            except OSError as exc:
                self._report(f"cannot reach broker {s.address}: {exc.strerror or exc}")
            else:
                self._set_nodelay()
                while not self._stop.is_set():
                    rc = self.client.loop(timeout=0.2)
                    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        break
                # paho's on_disconnect has already cleared `connected` here: how long it was up decides
                if self._up_since is not None and time.monotonic() - self._up_since >= s.stable_seconds:
                    backoff = 1.0  # it stayed up: start the backoff afresh
                self._up_since = None
                self.connected.clear()
                with self._ack_cond:
                    self._ack_cond.notify_all()
                if self._stop.is_set():
                    # let a DISCONNECT queued by disconnect() go out
                    for _ in range(10):
                        if self.client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                            break
                    break
            delay = reconnect_delay(backoff, s.reconnect_max)
            backoff = min(s.reconnect_max, backoff * 2)
            self.last_delay = delay
            self._stop.wait(delay)
        try:
            self.client.socket() and self.client.disconnect()
        except Exception:
            pass
