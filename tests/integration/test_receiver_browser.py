"""The receiver's app in a real headless Chromium (selenium, Debian's chromium + chromium-driver): pages
through everything stored, search, delete, and the phone layout, with screenshots in test-artifacts/.

A real ``mugshot-receive --http`` process serves a store filled by the receiver's own intake
(``Receiver.handle``, as from MQTT) with real events from a real face photo; a real mosquitto.
Every process a test starts is ended when it ends, pass or fail (``running``, ``browser``).
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.receiver.intake import Receiver
from edge.tools.local_broker import free_port
from tests.conftest import ROOT
from tests.helpers import make_event

pytestmark = pytest.mark.integration
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
PHONE = (390, 844)  # CSS pixels of a common phone, portrait
LONG_MODELS = {"detector": {"name": "face_detection_yunet_2023mar_int8bq.onnx", "sha256": "9" * 64,
                            "path": "/usr/share/mugshot-edge/models/" + "very-long-folder-name/" * 4},
               "generator": {"name": "none"}}


@contextmanager
def running(args: list[str], ready: tuple[str, ...], timeout: float = 30.0):
    """A process that must print every line of ``ready`` within ``timeout`` seconds; ended on exit
    (SIGTERM, then SIGKILL), whatever happened."""
    process = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    process.log = []
    watchdog = threading.Timer(timeout, process.kill)
    try:
        watchdog.start()
        waiting = set(ready)
        for line in iter(process.stderr.readline, ""):
            process.log.append(line)
            waiting = {w for w in waiting if w not in line}
            if not waiting:
                break
        watchdog.cancel()
        assert not waiting, f"{args[2]} did not get ready: {''.join(process.log)}"
        threading.Thread(target=lambda: process.log.extend(process.stderr), daemon=True).start()
        yield process
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def browser(phone: tuple[int, int] | None = None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    service = Service("/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    try:
        if phone:  # a window narrower than Chromium's own minimum: the phone's screen, as its devtools do
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": phone[0], "height": phone[1], "deviceScaleFactor": 2, "mobile": True})
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            if service.process is not None and service.process.poll() is None:
                service.process.kill()
                service.process.wait()


@contextmanager
def app(broker, out: Path):
    http = free_port()
    with running([sys.executable, "-m", "edge.receiver", "--broker", f"127.0.0.1:{broker.port}", "--out", str(out),
                  "--client-id", f"receiver-{time.monotonic_ns()}", "--http", f"127.0.0.1:{http}"],
                 ready=("subscribed to", "web gallery on")) as receiver:
        try:
            yield f"http://127.0.0.1:{http}"
        except BaseException:
            print("".join(receiver.log))  # the receiver's side of a failure
            raise


def fill(out: Path, plan: list[dict]) -> list[dict]:
    """Store events through the receiver's intake: each entry of ``plan`` changes a real event's fields
    (``profile``: a third picture, written as the intake of newer receivers does)."""
    base = make_event(2).encode()
    receiver = Receiver(out, fsync=False)
    metas = []
    try:
        for i, change in enumerate(plan):
            change = dict(change)
            profile = change.pop("profile", False)
            images = dict(base.images)
            described = dict(base.metadata["images"])
            if change.pop("small_mugshot", False):  # a mugshot smaller than the crop (a 128 px model)
                small = cv2.resize(cv2.imdecode(np.frombuffer(images["crop"], np.uint8), cv2.IMREAD_COLOR), (128, 128))
                images["mugshot"] = cv2.imencode(".jpg", small)[1].tobytes()
                described["mugshot"] = described["mugshot"] | {"width": 128, "height": 128,
                                                               "bytes": len(images["mugshot"]),
                                                               "sha256": hashlib.sha256(images["mugshot"]).hexdigest()}
            if profile:
                described["profile"] = described["crop"]
                images["profile"] = images["crop"]
                change.setdefault("profile_pose", base.metadata["pose"] | {"yaw": 75.0, "view": "profile",
                                                                         "seen": base.metadata["best_seen"]})
            meta = base.metadata | {"event_id": f"ev{i:04d}", "images": described} | change
            if "view" not in change:  # as a box from before views: the receiver reads the view from the yaw
                meta.pop("view", None)
            device, camera = meta["device"], meta["camera"]
            for name, data in images.items():
                receiver.handle(f"mugshot/{device}/{camera}/images/{meta['event_id']}/{name}", data)
            receiver.handle(f"mugshot/{device}/{camera}/event", json.dumps(meta).encode())
            metas.append(meta)
    finally:
        receiver.close()
    return metas


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))
    assert (ARTIFACTS / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def follow(driver, element) -> None:
    """Click a link or button that loads another page, and wait until it has."""
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    WebDriverWait(driver, 10).until(staleness_of(element))


def cards(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [c.get_attribute("href").rsplit("/", 1)[1] for c in driver.find_elements(By.CSS_SELECTOR, "#events .card")]


def test_pages_and_search_in_a_browser(broker, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    plan = [{"device": f"box{i % 2 + 1}", "camera": ("door", "yard", "gate")[i % 3],
             "best_seen": f"2026-12-0{1 + i // 50}T{8 + i % 10:02d}:{i % 60:02d}:00.000Z",
             "pose": {"yaw": (0.0, 40.0, -80.0)[i // 5 % 3], "pitch": 0.0, "roll": 0.0}}
            for i in range(130)]
    metas = fill(tmp_path / "out", plan)
    with app(broker, tmp_path / "out") as base, browser() as driver:
        driver.get(base + "/")
        seen, pages = [], 0
        while True:
            pages += 1
            seen += cards(driver)
            older = driver.find_elements(By.ID, "page-older")
            if not older:
                break
            follow(driver, older[0])
            assert driver.find_element(By.ID, "events").get_attribute("data-live") == "0"
        shot(driver, "receiver-last-page.png")
        assert pages == 3 and len(seen) == 130 and set(seen) == {m["event_id"] for m in metas}, "each once"
        assert seen == [m["event_id"] for m in reversed(metas)], "newest first"
        follow(driver, driver.find_element(By.ID, "page-newest"))
        assert len(cards(driver)) == 60 and driver.find_element(By.ID, "total").text == "130"

        # search: box, camera, view and a time range, through the form
        Select(driver.find_element(By.ID, "filter-device")).select_by_visible_text("box2")
        Select(driver.find_element(By.ID, "filter-camera")).select_by_visible_text("door")
        Select(driver.find_element(By.ID, "filter-view")).select_by_visible_text("profile")
        for field, value in (("filter-since", "2026-12-01T09:00"), ("filter-until", "2026-12-03T00:00")):
            driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, field), value)
        follow(driver, driver.find_element(By.ID, "filter-apply"))
        expected = [m["event_id"] for m in reversed(metas) if m["device"] == "box2" and m["camera"] == "door"
                    and abs(m["pose"]["yaw"]) >= 60 and "2026-12-01T09:00" <= m["best_seen"] < "2026-12-03"]
        assert expected and cards(driver) == expected
        assert driver.find_element(By.ID, "matching").text == str(len(expected))
        assert driver.find_element(By.ID, "filter-since").get_attribute("value") == "2026-12-01T09:00", "kept"
        assert {e.text for e in driver.find_elements(By.CSS_SELECTOR, ".card .view")} == {"profile"}
        shot(driver, "receiver-search.png")
        # text search, and a search that finds nothing
        driver.get(base + "/")
        driver.find_element(By.ID, "filter-q").send_keys("ev0042")
        follow(driver, driver.find_element(By.ID, "filter-apply"))
        assert cards(driver) == ["ev0042"]
        driver.get(base + "/?q=%25")
        assert cards(driver) == [] and "No events for this search" in driver.find_element(By.ID, "empty").text
        # the day timeline: 50 events on the 1st, by hour, each hour linking to its events
        driver.get(base + "/timeline?day=2026-12-01")
        assert driver.find_element(By.ID, "day-total").text == "50"
        assert sum(int(h.get_attribute("data-count")) for h in driver.find_elements(By.CSS_SELECTOR, ".hour")) == 50
        shot(driver, "receiver-timeline.png")
        follow(driver, driver.find_element(By.CSS_SELECTOR, "#hour-08 a.n"))
        assert sorted(cards(driver)) == sorted(m["event_id"] for m in metas if m["best_seen"].startswith(
            "2026-12-01T08"))


def test_delete_in_a_browser(broker, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    metas = fill(tmp_path / "out", [{}, {"profile": True}, {}])
    folder = tmp_path / "out" / "box1"
    assert len(list(folder.glob("ev0001*"))) == 4
    with app(broker, tmp_path / "out") as base, browser() as driver:
        driver.get(base + "/events/box1/ev0001")
        driver.find_element(By.ID, "delete").click()
        WebDriverWait(driver, 5).until(lambda d: d.switch_to.alert).dismiss()  # "no": nothing happens
        time.sleep(0.3)
        assert driver.current_url.endswith("/events/box1/ev0001") and folder.joinpath("ev0001.json").exists()
        driver.find_element(By.ID, "delete").click()
        WebDriverWait(driver, 5).until(lambda d: d.switch_to.alert).accept()
        WebDriverWait(driver, 10).until(lambda d: "/?device=box1" in d.current_url)
        assert cards(driver) == [metas[2]["event_id"], metas[0]["event_id"]]
        assert driver.find_element(By.ID, "total").text == "2"
        shot(driver, "receiver-after-delete.png")
        assert not list(folder.glob("ev0001*")), "its pictures, profile and JSON are gone"
        driver.get(base + "/events/box1/ev0001")
        assert "no such event" in driver.find_element(By.TAG_NAME, "body").text


def no_sideways_scroll(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_phone_layout(broker, tmp_path):
    from selenium.webdriver.common.by import By

    plan = [{"models": LONG_MODELS, "small_mugshot": True, "profile": i == 5, "generator": "refiner-student",
             "best_seen": f"2026-12-01T{8 + i:02d}:00:00.000Z"} for i in range(6)]
    fill(tmp_path / "out", plan)
    with app(broker, tmp_path / "out") as base, browser(phone=PHONE) as driver:
        driver.get(base + "/")
        assert driver.execute_script("return window.innerWidth") == PHONE[0]
        assert len(cards(driver)) == 6 and no_sideways_scroll(driver)
        widths = driver.execute_script("return [...document.querySelectorAll('.card')].map("
                                       "c => [...c.querySelectorAll('img')].map(i => i.clientWidth))")
        assert sorted(len(w) for w in widths) == [2] * 5 + [3], widths  # one card has its profile too
        assert all(len(set(w)) == 1 and w[0] > 64 for w in widths), f"a card's pictures at one size: {widths}"
        shot(driver, "receiver-phone-gallery.png")
        driver.get(base + "/events/box1/ev0005")
        sizes = driver.execute_script("return [...document.querySelectorAll('figure img')].map("
                                      "i => [i.closest('figure').id, i.naturalWidth, i.clientWidth])")
        assert [s[0] for s in sizes] == ["mugshot", "profile", "crop"]
        assert [s[1] for s in sizes] == [128, 256, 256], "the mugshot is smaller than the crop"
        assert len({s[2] for s in sizes}) == 1 and sizes[0][2] <= PHONE[0], f"shown at one size: {sizes}"
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "figure figcaption")]
        assert labels[0].startswith("Generated mugshot") and labels[1].startswith("Profile") \
            and labels[2].startswith("Camera crop")
        assert not driver.find_element(By.CSS_SELECTOR, "table.meta").is_displayed(), "details folded away"
        assert no_sideways_scroll(driver)
        shot(driver, "receiver-phone-event.png")
        driver.find_element(By.CSS_SELECTOR, "#details summary").click()
        assert driver.find_element(By.CSS_SELECTOR, "table.meta").is_displayed()
        assert "9" * 64 in driver.find_element(By.ID, "details").text
        assert no_sideways_scroll(driver), "the model table and JSON wrap"
        shot(driver, "receiver-phone-event-details.png")
        driver.get(base + "/timeline")
        assert no_sideways_scroll(driver)
        shot(driver, "receiver-phone-timeline.png")
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # a wide window: the three pictures side by side, still one size
        driver.get(base + "/events/box1/ev0005")
        tops = driver.execute_script("return [...document.querySelectorAll('figure img')].map("
                                     "i => [i.getBoundingClientRect().top, i.clientWidth])")
        assert len({t[0] for t in tops}) == 1 and len({t[1] for t in tops}) == 1, tops
        shot(driver, "receiver-event-three.png")


def processes_with(text: str) -> list[int]:
    """Processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its (new) parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_a_failing_test_leaves_no_process_running(broker, tmp_path):
    """What ``app`` and ``browser`` started ends when the test fails inside them."""
    out = tmp_path / "out"
    started: list[int] = []
    with pytest.raises(AssertionError, match="a failure inside"):
        with app(broker, out) as base, browser() as driver:
            driver.get(base + "/")
            profile = driver.capabilities["chrome"]["userDataDir"]  # on every Chromium process's command line
            started = [*processes_with(str(out)), *processes_with(profile), driver.service.process.pid]
            assert len(processes_with(str(out))) == 1 and len(processes_with(profile)) >= 2, started
            assert False, "a failure inside"
    assert not [p for p in started if alive(p)], "the receiver, Chromium and its driver ended"
