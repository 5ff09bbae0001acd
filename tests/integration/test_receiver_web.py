"""``mugshot-receive --http`` in a real headless Chromium (Debian's chromium + chromium-driver,
driven by selenium), against a real mosquitto, fed by replaying a real clip through the daemon."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.tools.local_broker import free_port
from tests.conftest import ROOT
from tests.helpers import Recorder

pytestmark = pytest.mark.integration
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
HOSTILE = "<img src=x onerror=\"window.__owned=1\"><script>window.__owned=2</script>"


def start_receiver(port, out, *extra, client_id=None, wait_for=("subscribed to",)):
    process = subprocess.Popen([sys.executable, "-m", "edge.receiver", "--broker", f"127.0.0.1:{port}", "--out",
                                str(out), "--client-id", client_id or f"receiver-{time.monotonic_ns()}", *extra],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(30, process.kill)
    watchdog.start()
    lines, waiting = [], set(wait_for)
    for line in iter(process.stderr.readline, ""):
        lines.append(line)
        waiting = {w for w in waiting if w not in line}
        if not waiting:
            break
    watchdog.cancel()
    assert not waiting, f"the receiver did not get ready: {''.join(lines)}"
    process.log = lines
    threading.Thread(target=lambda: process.log.extend(process.stderr), daemon=True).start()
    return process


def replay(broker, tmp_path, shared_data, device):
    """The daemon replays a real clip and publishes its events over MQTT (and into a folder); the
    camera is named after the clip."""
    config = tmp_path / f"{device}.toml"
    config.write_text(f'[device]\nid = "{device}"\n'
                      f'[[publishers]]\ntype = "directory"\npath = "local-{device}"\n'
                      f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'spool_path = "spool-{device}.sqlite"\ndiscovery = false\n')
    result = subprocess.run([sys.executable, "-m", "edge", "replay", str(shared_data / "video" / "single_face.mp4"),
                             "--out", str(tmp_path / f"local-{device}"), "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return [json.loads(p.read_text()) for p in (tmp_path / f"local-{device}").glob("*.json")]


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def test_live_gallery_in_a_real_browser(broker, tmp_path, shared_data):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    http = free_port()
    out = tmp_path / "received"
    receiver = start_receiver(broker.port, out, "--http", f"127.0.0.1:{http}",
                              wait_for=("subscribed to", "web gallery on"))
    base = f"http://127.0.0.1:{http}"
    driver = chromium()
    try:
        first = replay(broker, tmp_path, shared_data, "box1")
        driver.get(base + "/")
        wait = WebDriverWait(driver, 20, poll_frequency=0.1)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.card[data-device="box1"]'))
        driver.execute_script("window.__no_reload = 'still here'")

        second = replay(broker, tmp_path, shared_data, "box2")  # a new box while the page is open
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.card[data-device="box2"]'))
        assert driver.execute_script("return window.__no_reload") == "still here", "appeared without a reload"

        # a hostile publisher on its own topic: every field it controls is shown as text
        sender = Recorder(broker.port, topics=[])
        meta = first[0] | {"event_id": "hostile1", "device": "box3", "generator": HOSTILE,
                           "pose": first[0]["pose"] | {"source": HOSTILE}, "note": HOSTILE}
        for name in ("mugshot", "crop"):
            sender.connection.publish(f"mugshot/box3/{meta['camera']}/images/hostile1/{name}",
                                      (tmp_path / "local-box1" / f"{first[0]['event_id']}_{name}.jpg").read_bytes())
        sender.connection.publish(f"mugshot/box3/{meta['camera']}/event", json.dumps(meta).encode())
        card = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.card[data-device="box3"]'))[0]
        assert HOSTILE in card.text
        assert driver.find_element(By.ID, "total").text == "3" and driver.find_element(By.ID, "shown").text == "3"
        assert driver.execute_script("return window.__owned") is None
        assert driver.execute_script("return window.__no_reload") == "still here"
        driver.save_screenshot(str(ARTIFACTS.mkdir(parents=True, exist_ok=True) or ARTIFACTS / "receiver-gallery.png"))

        # labels: which picture is generated and which is the camera's, each at its own size
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, '.card[data-device="box1"] .label')]
        assert labels == ["Generated mugshot", "Camera crop"]
        driver.get(base + f"/events/box1/{first[0]['event_id']}")
        mugshot = driver.find_element(By.CSS_SELECTOR, "#mugshot figcaption").text
        assert mugshot.startswith("Generated mugshot, by restore-student") and first[0]["generator"] == "restore-student"
        assert driver.find_element(By.CSS_SELECTOR, "#crop figcaption").text.startswith("Camera crop: the camera's")
        sizes = driver.execute_script("return [...document.querySelectorAll('figure img')].map("
                                      "i => [i.naturalWidth, i.clientWidth])")
        published = first[0]["models"]["generator"]["published_size"]  # the model's 128 px, upsampled by the box
        assert sizes == [[published, published], [256, 256]], "shown at their own size, not stretched"
        driver.save_screenshot(str(ARTIFACTS / "receiver-event.png"))
        pose = driver.find_element(By.CSS_SELECTOR, "table.meta").text
        assert f"yaw {first[0]['pose']['yaw']}" in pose

        driver.get(base + "/events/box3/hostile1")
        assert HOSTILE in driver.find_element(By.CSS_SELECTOR, "#mugshot figcaption").text
        assert driver.execute_script("return window.__owned") is None

        # filter by box
        driver.get(base + "/")
        Select(driver.find_element(By.ID, "filter-device")).select_by_visible_text("box2")
        driver.find_element(By.ID, "filter-apply").click()
        wait.until(lambda d: "device=box2" in d.current_url)
        devices = {e.get_attribute("data-device") for e in driver.find_elements(By.CSS_SELECTOR, ".card")}
        assert devices == {"box2"} and len(second) == 1
        driver.save_screenshot(str(ARTIFACTS / "receiver-gallery-filtered.png"))
    except Exception:
        print("".join(receiver.log))  # the receiver's side of a failure
        raise
    finally:
        driver.quit()
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(10)
    assert (ARTIFACTS / "receiver-gallery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert receiver.returncode == 0
