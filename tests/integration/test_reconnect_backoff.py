"""The reconnect backoff (shared by the daemon's publisher and the receiver) starts afresh after a
connection that stayed up: a broker restarted again and again is rejoined within seconds every time."""
import time

import pytest

from edge.publish.mqtt_connection import ConnectionSettings, MqttConnection

pytestmark = pytest.mark.integration


def test_the_delay_stays_short_over_repeated_broker_restarts(broker):
    connection = MqttConnection(ConnectionSettings(host="127.0.0.1", port=broker.port, client_id="backoff",
                                                   reconnect_max=60.0, stable_seconds=1.0))
    connection.start()
    try:
        assert connection.connected.wait(10)
        rejoined = []
        for _ in range(4):
            time.sleep(1.2)  # up long enough to count as a good connection
            broker.stop()
            assert not connection.connected.wait(0) or _wait_down(connection)
            time.sleep(1.0)  # a one-second outage
            broker.start()
            back = time.monotonic()
            assert connection.connected.wait(30), connection.last_error
            rejoined.append(time.monotonic() - back)
        assert max(rejoined) < 4.0, f"seconds to rejoin after each restart: {[round(s, 1) for s in rejoined]}"
        assert 0 < connection.last_delay <= 2.0  # with jitter: never the full doubled backoff
    finally:
        connection.stop()


def _wait_down(connection, timeout=5.0):
    deadline = time.monotonic() + timeout
    while connection.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not connection.connected.is_set()
