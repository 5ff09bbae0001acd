"""People pages in a real headless Chromium: real events (FRMDB photos through the box) published over a
real mosquitto to ``mugshot-receive --http``, embedded and grouped by its people worker; a person page,
naming and merging through the pages' own forms, and the phone width."""
import json

import pytest

from edge.tools.local_broker import free_port
from tests.helpers import Recorder, wait
from tests.integration.test_receiver_web import ARTIFACTS, chromium
from tests.processes import running_receiver

pytestmark = pytest.mark.integration
VIEWS = ("Img_33", "Img_34", "Img_23", "Img_43")


def box_events(tmp_path, shared_data):
    from edge.config import Config
    from edge.tools.stills import run_stills

    events = []
    for subject in ("001", "002"):
        folder = tmp_path / "box" / subject
        photos = [shared_data / "frmdb" / "original" / subject / f"{subject}_Mugshots" / f"{v}.JPG" for v in VIEWS]
        assert len(run_stills(photos, folder, Config()).done) == len(VIEWS)
        for view in VIEWS:
            meta = json.loads((folder / f"{view}.json").read_text())
            meta["device"] = "box1"
            meta.pop("sequence", None)
            events.append((subject, meta, {n: (folder / f"{view}_{n}.jpg").read_bytes() for n in ("mugshot", "crop")}))
    return events


def test_person_page_naming_and_merging_in_a_real_browser(broker, tmp_path, shared_data):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    events = box_events(tmp_path, shared_data)
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    with running_receiver(broker.port, tmp_path / "received", "--http", f"127.0.0.1:{http}",
                          wait_for=("subscribed to", "web gallery on")) as receiver:
        driver = None
        sender = Recorder(broker.port, topics=[])
        try:
            for _, meta, images in events:
                for name, data in images.items():
                    sender.connection.publish(f"mugshot/box1/{meta['camera']}/images/{meta['event_id']}/{name}", data)
                sender.connection.publish(f"mugshot/box1/{meta['camera']}/event", json.dumps(meta).encode())
            driver = chromium()
            # the page is redrawn after each action: an element read between its removal and its replacement
            # is stale, which a wait retries like an absent one
            wait = WebDriverWait(driver, 60, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))

            def grouped():
                driver.get(base + "/people")
                cards = driver.find_elements(By.CSS_SELECTOR, ".person-card")
                counts = [int(c.find_element(By.CSS_SELECTOR, ".person-meta").text.split()[0]) for c in cards]
                return cards if sum(counts) == len(events) else False

            cards = wait.until(lambda d: grouped())
            assert 2 <= len(cards) < len(events), "views of one person grouped, two people kept apart"
            driver.save_screenshot(str(ARTIFACTS.mkdir(parents=True, exist_ok=True) or ARTIFACTS / "people.png"))

            cards[0].click()
            wait.until(lambda d: d.find_elements(By.ID, "sightings"))
            rows = driver.find_elements(By.CSS_SELECTOR, "#sightings tbody tr[data-event]")
            times = [r.find_element(By.TAG_NAME, "time").text for r in rows]
            assert times == sorted(times, reverse=True), "newest first"
            assert all(r.find_elements(By.TAG_NAME, "img") for r in rows)
            first_url = driver.current_url
            name = driver.find_element(By.ID, "name-input")
            name.clear()
            name.send_keys("Anna <b>")
            driver.find_element(By.ID, "name-save").click()
            wait.until(lambda d: d.find_element(By.ID, "person-title").text == "Anna <b>")
            assert driver.current_url == first_url

            # merge every other person into Anna, through the page's own form
            while driver.find_elements(By.ID, "merge-form"):
                options = Select(driver.find_element(By.ID, "merge-into")).options
                other = options[0].get_attribute("value")
                driver.get(f"{base}/people/{other}")
                Select(driver.find_element(By.ID, "merge-into")).select_by_value(first_url.rsplit("/", 1)[1])
                driver.find_element(By.ID, "merge-button").click()
                wait.until(lambda d: d.current_url == first_url)
            meta = driver.find_element(By.ID, "person-meta").text
            assert meta.startswith(f"{len(events)} events"), meta
            driver.set_window_size(390, 844)  # a phone
            driver.get(first_url)
            width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            wide = driver.execute_script("return [...document.querySelectorAll('body *')].filter(e => "
                                         "e.getBoundingClientRect().right > window.innerWidth + 1).map(e => "
                                         "e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)")
            assert width[0] <= width[1], f"the person page scrolls sideways on a phone: {width} {wide}"
            driver.save_screenshot(str(ARTIFACTS / "person-phone.png"))
        finally:
            if driver is not None:
                driver.quit()
            sender.connection.stop()
    assert receiver.returncode == 0


def test_a_named_person_is_announced_over_mqtt(broker, tmp_path, shared_data):
    import urllib.request

    from tests.helpers import Recorder as Listener

    events = [e for e in box_events(tmp_path, shared_data) if e[0] == "001"]
    http = free_port()
    base = f"http://127.0.0.1:{http}"

    def get(path):
        with urllib.request.urlopen(base + path, timeout=10) as answer:
            return json.loads(answer.read())

    with running_receiver(broker.port, tmp_path / "received", "--http", f"127.0.0.1:{http}", "--publish-names",
                          wait_for=("subscribed to", "web gallery on")) as receiver:
        listener = sender = None
        try:
            listener = Listener(broker.port, topics=["mugshot/+/+/person"])
            sender = Recorder(broker.port, topics=[])

            def publish(meta, images):
                for name, data in images.items():
                    sender.connection.publish(f"mugshot/box1/{meta['camera']}/images/{meta['event_id']}/{name}", data)
                sender.connection.publish(f"mugshot/box1/{meta['camera']}/event", json.dumps(meta).encode())

            for _, meta, images in events:
                publish(meta, images)
            assert wait(lambda: sum(p["events"] for p in get("/api/people")["people"]) == len(events), timeout=30), \
                get("/api/people")
            person = max(get("/api/people")["people"], key=lambda p: p["events"])
            request = urllib.request.Request(f"{base}/api/people/{person['id']}/name", method="POST",
                                             data=json.dumps({"name": "Anna"}).encode(),
                                             headers={"content-type": "application/json"})
            urllib.request.urlopen(request, timeout=10).read()
            assert not listener.messages, "nothing is announced before a person has a name"
            _, meta, images = next(e for e in events if e[1]["event_id"] == get(f"/api/people/{person['id']}")
                                   ["sightings"][0]["event_id"])
            again = dict(meta, event_id="secondvisit1", best_seen="2031-01-01T10:00:00.000Z")
            publish(again, images)  # the same face again on a later walk-by
            assert listener.wait_for(lambda r: r.messages, timeout=30), "the named person was announced"
            topic, payload = listener.messages[0][:2]
            said = json.loads(payload)
            assert topic == f"mugshot/box1/{meta['camera']}/person"
            assert said["name"] == "Anna" and said["event_id"] == "secondvisit1" and said["person_id"] == person["id"]
            assert 0.7 <= said["confidence"] <= 1.0
        finally:
            for client in (listener, sender):
                if client is not None:
                    client.stop()
    assert receiver.returncode == 0


def test_no_people_switch_and_a_bad_threshold(broker, tmp_path, shared_data):
    import sqlite3
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from tests.conftest import ROOT

    bad = subprocess.run([sys.executable, "-m", "edge.receiver", "--broker", f"127.0.0.1:{broker.port}", "--out",
                          str(tmp_path / "bad"), "--people-threshold", "1.5"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 78 and "--people-threshold: must be between 0 and 1" in bad.stderr
    _, meta, images = box_events(tmp_path, shared_data)[0]
    http = free_port()
    with running_receiver(broker.port, tmp_path / "received", "--http", f"127.0.0.1:{http}", "--no-people",
                          wait_for=("subscribed to", "web gallery on")) as receiver:
        sender = Recorder(broker.port, topics=[])
        try:
            for name, data in images.items():
                sender.connection.publish(f"mugshot/box1/{meta['camera']}/images/{meta['event_id']}/{name}", data)
            sender.connection.publish(f"mugshot/box1/{meta['camera']}/event", json.dumps(meta).encode())
            assert wait(lambda: any("stored" in line for line in receiver.log), timeout=30)
            for path in ("/people", "/api/people"):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=10)
                    raise AssertionError(f"{path} answered with --no-people")
                except urllib.error.HTTPError as exc:
                    assert exc.code == 404
        finally:
            sender.stop()
    assert receiver.returncode == 0
    tables = {t for (t,) in sqlite3.connect(tmp_path / "received" / "index.sqlite").execute(
        "SELECT name FROM sqlite_master")}
    assert not {"faces", "people"} & tables, "no embeddings were made"
