"""The live gallery in a real headless Chromium shows every event that arrived while it was open,
however many came between two polls (real mosquitto, real receiver process, real index)."""
import signal
import subprocess

import pytest

from edge.config import MqttPublisherConfig
from edge.publish.mqtt import MqttPublisher
from edge.tools.local_broker import free_port
from tests.helpers import make_event, wait
from edge.receiver.intake import Receiver
from tests.integration.test_receiver_web import chromium, start_receiver
from tests.unit.test_receiver_intake import send

pytestmark = pytest.mark.integration


def test_the_open_gallery_pages_through_a_burst(broker, tmp_path):
    from selenium.webdriver.common.by import By

    http, out = free_port(), tmp_path / "received"
    receiver = start_receiver(broker.port, out, "--http", f"127.0.0.1:{http}",
                              wait_for=("subscribed to", "web gallery on"))
    driver = publisher = None
    try:
        driver = chromium()
        driver.get(f"http://127.0.0.1:{http}/")
        assert driver.find_elements(By.ID, "events")
        publisher = MqttPublisher(MqttPublisherConfig(host="127.0.0.1", port=broker.port, discovery=False,
                                                      spool_path=str(tmp_path / "spool.sqlite")),
                                  device_id="box1", cameras=["door"])
        for i in range(20):
            publisher.publish(make_event(i))
        assert wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".card")) == 20, timeout=30)
        # 130 more land between two polls: the receiver is held still while another receiver process
        # stores them into the same folder (as receivers of one shared subscription do), then let go
        receiver.send_signal(signal.SIGSTOP)
        other = Receiver(out, fsync=False)
        for i in range(20, 150):
            send(other, make_event(i).encode())
        other.close()
        receiver.send_signal(signal.SIGCONT)
        shown = lambda: len(driver.find_elements(By.CSS_SELECTOR, ".card"))  # noqa: E731
        assert wait(lambda: shown() == 150, timeout=20), f"{shown()} of 150 shown"
        assert driver.find_element(By.ID, "shown").text == "150"
    except Exception:
        print("".join(receiver.log))
        raise
    finally:
        if driver is not None:
            driver.quit()
        if publisher is not None:
            publisher.close()
        if receiver.poll() is None:
            receiver.send_signal(signal.SIGCONT)
            receiver.send_signal(signal.SIGTERM)
            try:
                receiver.wait(15)
            except subprocess.TimeoutExpired:
                receiver.kill()
                receiver.wait()
