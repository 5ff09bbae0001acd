"""People on the receiver: the real faceres model on real faces (FRMDB photos through the box's own
stages), grouping, retention, and the people pages/API with hostile input (Starlette's test client)."""
import base64
import json
import sqlite3

import numpy as np
import pytest
from starlette.testclient import TestClient

from edge.receiver.intake import Receiver
from edge.receiver.people.service import PeopleService
from edge.receiver.web import create_app

TOKEN = "people token"
VIEWS = ("Img_33", "Img_32", "Img_34", "Img_23", "Img_43")  # yaw 0 at pitch 0/+30/-30, yaw -45/+45 at pitch 0


@pytest.fixture(scope="module")
def box_events(tmp_path_factory, shared_data):
    """Two people's studio views, each through the box (YuNet, mesh, pose, generator, crop): real events."""
    from edge.config import Config
    from edge.tools.stills import run_stills

    out = tmp_path_factory.mktemp("box")
    events = []
    for subject in ("001", "002"):
        folder = out / subject
        photos = [shared_data / "frmdb" / "original" / subject / f"{subject}_Mugshots" / f"{v}.JPG" for v in VIEWS]
        result = run_stills(photos, folder, Config())
        assert len(result.done) == len(VIEWS), result.skipped
        for view in VIEWS:
            meta = json.loads((folder / f"{view}.json").read_text())
            images = {n: (folder / f"{view}_{n}.jpg").read_bytes() for n in ("mugshot", "crop")}
            events.append((subject, view, meta, images))
    return events


def feed(receiver, events, device="box1"):
    for _, _, meta, images in events:
        meta = dict(meta, device=device)
        meta.pop("sequence", None)
        for name, data in images.items():
            receiver.handle(f"mugshot/{device}/{meta['camera']}/images/{meta['event_id']}/{name}", data)
        receiver.handle(f"mugshot/{device}/{meta['camera']}/event", json.dumps(meta).encode())


@pytest.fixture()
def people(tmp_path, box_events):
    receiver = Receiver(tmp_path / "out", fsync=False)
    feed(receiver, box_events)
    receiver.people = PeopleService(receiver.store)
    while receiver.people.catch_up():
        pass
    yield receiver
    receiver.close()


def test_real_model_tells_two_real_people_apart(people, box_events):
    rows = people.store.index.query("SELECT device, event_id, embedding FROM faces WHERE part='crop'")
    assert len(rows) == len(box_events), "every stored event is embedded"
    subject = {m["event_id"]: s for s, _, m, _ in box_events}
    vectors = {e: np.frombuffer(b, np.float32) for _, e, b in rows}
    assert all(abs(np.linalg.norm(v) - 1) < 1e-4 for v in vectors.values())
    ids = list(vectors)
    sims = [(vectors[a] @ vectors[b], subject[a] == subject[b]) for i, a in enumerate(ids) for b in ids[i + 1:]]
    same = np.mean([s for s, k in sims if k])
    other = np.mean([s for s, k in sims if not k])
    assert same > other + 0.1, (same, other)
    # each person's frontal views (yaw 0, three pitches) are nearest to each other, not to the other person
    for a in ids:
        best = max((b for b in ids if b != a), key=lambda b: vectors[a] @ vectors[b])
        view = next(v for s, v, m, _ in box_events if m["event_id"] == a)
        if view in ("Img_33", "Img_34"):
            assert subject[best] == subject[a], view


def test_groups_never_mix_the_two_people(people, box_events):
    subject = {m["event_id"]: s for s, _, m, _ in box_events}
    groups = {}
    for person, event_id in people.store.index.query("SELECT person_id, event_id FROM faces"):
        groups.setdefault(person, set()).add(subject[event_id])
    assert all(len(g) == 1 for g in groups.values()), groups
    assert len(groups) < len(box_events), "some views of one person are grouped together"


def test_retention_and_delete_take_embeddings_and_empty_people_with_them(people):
    index = people.store.index
    people_before, faces_before = people.people.people.counts()
    with index.transaction():
        victim = index.oldest()
        people.store.delete(victim)
    assert index.query("SELECT COUNT(*) FROM faces WHERE event_id=?", (victim.event_id,))[0][0] == 0
    assert people.people.people.counts()[1] == faces_before - 1
    with index.transaction():
        while (event := index.oldest()) is not None:
            people.store.delete(event)
    assert people.people.people.counts() == (0, 0), "unnamed people without faces go too"


def test_a_new_revision_is_embedded_again(people, box_events):
    _, _, meta, images = box_events[0]
    meta = dict(meta, device="box1", revision=meta["revision"] + 1)
    meta.pop("sequence", None)
    people.handle(f"mugshot/box1/{meta['camera']}/event", json.dumps(meta).encode())
    while people.people.catch_up():
        pass
    rows = people.store.index.query("SELECT revision FROM faces WHERE event_id=?", (meta["event_id"],))
    assert rows == [(meta["revision"],)]


def client_for(receiver, token=None):
    return TestClient(create_app(receiver, token))


def test_people_api_name_merge_split_forget(people, shared_data):
    client = client_for(people)
    listed = client.get("/api/people").json()["people"]
    assert listed and all({"id", "name", "events", "last_seen"} <= set(p) for p in listed)
    first, second = listed[0]["id"], listed[-1]["id"]
    hostile = "<script>window.__owned=1</script>"
    assert client.post(f"/api/people/{first}/name", json={"name": hostile}).json()["name"] == hostile
    page = client.get(f"/people/{first}").text
    assert "<script>window.__owned" not in page and "&lt;script&gt;window.__owned=1&lt;/script&gt;" in page
    assert "<script>window" not in client.get("/people").text
    detail = client.get(f"/api/people/{first}").json()
    times = [s["time"] for s in detail["sightings"]]
    assert times == sorted(times, reverse=True) and {"device", "camera", "view", "time"} <= set(detail["sightings"][0])
    # a library photo: a raw portrait, found and aligned by the receiver as the box aligns its crop
    portrait = (shared_data / "frmdb" / "original" / "001" / "001.jpg").read_bytes()
    assert client.post(f"/api/people/{first}/photos", content=portrait).json()["library_photos"] == 1
    assert client.post(f"/api/people/{second}/photos", content=portrait).status_code == 409, "unnamed"
    assert client.post(f"/api/people/{first}/photos", content=b"\xff\xd8 not a jpeg").status_code == 400
    total = sum(p["events"] for p in client.get("/api/people").json()["people"])
    merged = client.post(f"/api/people/{second}/merge", json={"into": first}).json()
    assert merged["id"] == first and merged["name"] == hostile
    assert client.get(f"/api/people/{second}").status_code == 404
    sightings = client.get(f"/api/people/{first}").json()["sightings"]
    split = client.post(f"/api/people/{first}/split",
                        json={"event": [f"{sightings[0]['device']}/{sightings[0]['event_id']}"]}).json()
    assert split["events"] == 1 and split["name"] is None
    assert sum(p["events"] for p in client.get("/api/people").json()["people"]) == total
    gone = client.post(f"/api/people/{split['id']}/forget", json={"delete_events": True}).json()
    assert gone["events_deleted"] == 1
    assert client.get(f"/events/{sightings[0]['device']}/{sightings[0]['event_id']}").status_code == 404
    kept = client.post(f"/api/people/{first}/forget", data={"delete_events": "0"},
                       headers={"accept": "application/json"}).json()
    assert kept["events_deleted"] == 0 and client.get(f"/api/people/{first}").status_code == 404
    stored = people.store.index.query("SELECT COUNT(*) FROM events")[0][0]
    assert stored > 0 and people.store.index.query(
        "SELECT COUNT(*) FROM faces WHERE person_id IN (?, ?)", (first, split["id"]))[0][0] == 0


def test_forms_redirect_back_to_the_page(people):
    client = client_for(people)
    pid = client.get("/api/people").json()["people"][0]["id"]
    answer = client.post(f"/api/people/{pid}/name", data={"name": "Anna"}, headers={"accept": "text/html"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/people/{pid}"
    assert "Anna" in client.get(f"/people/{pid}").text
    created = client.post("/api/people", json={"name": "Ben"})
    assert created.status_code == 201 and created.json()["events"] == 0


@pytest.mark.parametrize("path", ["/people/..%2F..%2Fetc%2Fpasswd", "/people/1%20OR%201=1", "/people/-1",
                                  "/people/99999999999999999999999", "/api/people/1;DROP TABLE faces",
                                  "/api/people/%2e%2e", "/people/0x10"])
def test_hostile_person_paths_are_404(people, path):
    assert client_for(people).get(path).status_code == 404
    assert people.store.index.query("SELECT COUNT(*) FROM faces")[0][0] > 0


@pytest.mark.parametrize("body", [{"event": ["../../etc/passwd"]}, {"event": ["box1/x' OR '1'='1"]},
                                  {"event": []}, {"into": "1 OR 1=1"}, {"name": "a\x00b"}, {"name": "x" * 65}])
def test_hostile_bodies_are_refused(people, body):
    client = client_for(people)
    pid = client.get("/api/people").json()["people"][0]["id"]
    action = "split" if "event" in body else "merge" if "into" in body else "name"
    assert client.post(f"/api/people/{pid}/{action}", json=body).status_code in (400, 409)
    assert client.post(f"/api/people/{pid}/{action}", content=b"{" * 70_000,
                       headers={"content-type": "application/json"}).status_code == 400


def test_cross_site_posts_and_missing_password_are_refused(people):
    client = client_for(people, TOKEN)
    auth = {"authorization": "Basic " + base64.b64encode(f"x:{TOKEN}".encode()).decode()}
    assert client.get("/people").status_code == 401 and client.get("/api/people").status_code == 401
    assert client.post("/api/people", json={"name": "x"}).status_code == 401
    pid = client.get("/api/people", headers=auth).json()["people"][0]["id"]
    for evil in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}):
        answer = client.post(f"/api/people/{pid}/forget", json={"delete_events": True}, headers=auth | evil)
        assert answer.status_code == 403
    assert client.get(f"/api/people/{pid}", headers=auth).status_code == 200


def test_no_people_means_no_pages_and_no_tables(tmp_path, box_events):
    receiver = Receiver(tmp_path / "plain", fsync=False)
    feed(receiver, box_events[:1])
    client = TestClient(create_app(receiver))
    assert client.get("/people").status_code == 404 and client.get("/api/people").status_code == 404
    tables = {t for (t,) in receiver.store.index.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "faces" not in tables
    receiver.close()
    with pytest.raises(sqlite3.OperationalError):
        sqlite3.connect(tmp_path / "plain" / "index.sqlite").execute("SELECT * FROM faces")


def test_grouping_forgets_people_whose_events_retention_removed(people, box_events):
    """Faces deleted under the worker (retention, the web app's delete) leave no ghost person to join."""
    index = people.store.index
    with index.transaction():
        while (event := index.oldest()) is not None:
            people.store.delete(event)
    feed(people, box_events[:1], device="box2")
    while people.people.catch_up():
        pass
    (person,) = index.query("SELECT person_id FROM faces")
    assert index.query("SELECT COUNT(*) FROM people WHERE id=?", person)[0][0] == 1
