"""``mugshot-receive --http`` in a real headless Chromium (Debian's chromium + chromium-driver,
driven by selenium), against a real mosquitto, fed by replaying a real clip through the daemon."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.tools.local_broker import free_port
from tests.conftest import ROOT
from tests.helpers import Recorder
from tests.processes import running_receiver, start_receiver  # noqa: F401 (start_receiver: other tests import it here)

pytestmark = pytest.mark.integration
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
HOSTILE = "<img src=x onerror=\"window.__owned=1\"><script>window.__owned=2</script>"


def replay(broker, tmp_path, shared_data, device, clip=None, extra=""):
    """The daemon replays a real clip (or a folder of frames) and publishes its events over MQTT (and into a
    folder); the camera is named after the clip."""
    config = tmp_path / f"{device}.toml"
    config.write_text(f'[device]\nid = "{device}"\n'
                      f'[[publishers]]\ntype = "directory"\npath = "local-{device}"\n'
                      f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'spool_path = "spool-{device}.sqlite"\ndiscovery = false\n{extra}')
    clip = clip or shared_data / "video" / "single_face.mp4"
    result = subprocess.run([sys.executable, "-m", "edge", "replay", str(clip),
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
    base = f"http://127.0.0.1:{http}"
    with running_receiver(broker.port, out, "--http", f"127.0.0.1:{http}",
                          wait_for=("subscribed to", "web gallery on")) as receiver:
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
            shown = max(published, 256)
            assert sizes == [[published, shown], [256, shown]], "both shown at one size"
            driver.save_screenshot(str(ARTIFACTS / "receiver-event.png"))
            driver.find_element(By.CSS_SELECTOR, "#details summary").click()  # the metadata is folded away
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
        finally:
            driver.quit()
    assert (ARTIFACTS / "receiver-gallery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert receiver.returncode == 0


def test_mugshot_profile_and_crop_are_shown_at_the_same_size_labelled(broker, tmp_path, shared_data):
    """A head turning from one profile to the other (FRMDB studio views, tests/helpers.studio_turn) through the
    daemon and MQTT: the receiver's gallery and event page show its three pictures at one size, labelled."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.helpers import studio_turn

    studio_turn(shared_data, "001", tmp_path / "turn")
    http = free_port()
    with running_receiver(broker.port, tmp_path / "received", "--http", f"127.0.0.1:{http}",
                          wait_for=("subscribed to", "web gallery on")) as receiver:
        base = f"http://127.0.0.1:{http}"
        driver = chromium()
        try:
            (event,) = replay(broker, tmp_path, shared_data, "box1", clip=tmp_path / "turn",
                              extra="[motion]\nenabled = false\n")
            assert "profile" in event["images"] and event["view"] == "frontal"
            driver.get(base + "/")
            wait = WebDriverWait(driver, 20, poll_frequency=0.1)
            card = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.card[data-device="box1"]'))[0]
            assert [e.text for e in card.find_elements(By.CSS_SELECTOR, ".label")] == \
                ["Generated mugshot", "Camera crop", "Profile"]
            shown = driver.execute_script("return [...arguments[0].querySelectorAll('img')].map("
                                          "i => [i.complete && i.naturalWidth, i.clientWidth, i.clientHeight])", card)
            assert len(shown) == 3 and all(n == 256 for n, _, _ in shown), shown
            assert len({(w, h) for _, w, h in shown}) == 1 and shown[0][1] > 64, f"one size for all three: {shown}"
            driver.get(base + f"/events/box1/{event['event_id']}")
            figures = driver.execute_script(
                "return [...document.querySelectorAll('figure')].map(f => [f.id, f.querySelector('img').naturalWidth,"
                " f.querySelector('img').clientWidth, f.querySelector('img').clientHeight])")
            assert [f[0] for f in figures] == ["mugshot", "profile", "crop"]
            assert len({tuple(f[2:]) for f in figures}) == 1 and figures[0][2] == 256, f"one size for all three: {figures}"
            caption = driver.find_element(By.CSS_SELECTOR, "#profile figcaption").text
            assert caption.startswith("Profile: the camera's best side view") and f"yaw {event['profile_pose']['yaw']}" in caption
            assert "frontal view" in driver.find_element(By.ID, "view").text
            driver.save_screenshot(str(ARTIFACTS.mkdir(parents=True, exist_ok=True) or ARTIFACTS / "receiver-views.png"))
        finally:
            driver.quit()
    assert receiver.returncode == 0
