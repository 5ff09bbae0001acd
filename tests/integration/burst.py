"""Publishes a burst of real events through the real MQTT publisher; run as a subprocess so that
tests can SIGKILL it mid-burst.  Prints 'spooled <event_id>' once each event is committed.

    python -m tests.integration.burst PORT SPOOL COUNT [DELAY]   (COUNT 0: only deliver what is spooled)
"""
import sys
import time

from edge.config import MqttPublisherConfig
from edge.publish.mqtt import MqttPublisher
from tests.helpers import make_event


def main() -> None:
    port, spool, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    publisher = MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=port, spool_path=spool, discovery=False,
                                                  reconnect_max=1.0),
                              device_id="box1", cameras=["door"])
    for i in range(count):
        event = make_event(i)
        publisher.publish(event)
        print(f"spooled {event.event_id}", flush=True)
        time.sleep(delay)
    deadline = time.monotonic() + 30
    while publisher.spool.depth()[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"drained {publisher.status()}", flush=True)
    publisher.close()


if __name__ == "__main__":
    main()
