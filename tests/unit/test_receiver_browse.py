"""Pages, search, delete, download, export and the day timeline of the receiver's web app, through
Starlette's test client on a real store of real events (``Receiver.handle``, as from MQTT)."""
import base64
import csv
import hashlib
import io
import json
import sqlite3
import zipfile
from datetime import datetime, timezone

import pytest
from starlette.routing import Route
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from edge.receiver.index import EventIndex
from edge.receiver.intake import Receiver
from edge.receiver.retention import RetentionPolicy, apply_retention
from edge.receiver.search import BadQuery
from edge.receiver.web import create_app
from edge.receiver.web_extensions import WebExtension
from tests.helpers import make_event

TOKEN = "correct horse battery staple"
HOSTILE = "<script>document.title='owned'</script>"
# (device, camera, best_seen, yaw, view as the box says it or None)
PLAN = [("box1", "door", "2026-12-01T08:15:00.000Z", 3.0, None),
        ("box1", "door", "2026-12-01T08:45:00.000Z", 40.0, None),
        ("box1", "yard", "2026-12-01T17:05:00.000Z", -75.0, None),
        ("box2", "gate", "2026-12-02T09:00:00.000Z", 10.0, "three-quarter"),
        ("box2", "gate", "2026-12-02T23:59:59.000Z", -5.0, None)]


def put(receiver, encoded, event_id, device="box1", camera="door", **changes):
    """Store a copy of a real event under another id, box, camera and time."""
    meta = encoded.metadata | {"event_id": event_id, "device": device, "camera": camera} | changes
    if meta.get("view") is None:  # an event from a box that does not say its view
        meta.pop("view", None)
    for name, data in encoded.images.items():
        receiver.handle(f"mugshot/{device}/{camera}/images/{event_id}/{name}", data)
    receiver.handle(f"mugshot/{device}/{camera}/event", json.dumps(meta).encode())
    return meta


@pytest.fixture(scope="module")
def encoded():
    return make_event(1).encode()


@pytest.fixture
def planned(tmp_path, encoded):
    receiver = Receiver(tmp_path / "out")
    for i, (device, camera, seen, yaw, view) in enumerate(PLAN):
        extra = {"view": view}
        put(receiver, encoded, f"ev{i}", device, camera, best_seen=seen, pose=encoded.metadata["pose"] | {"yaw": yaw},
            **extra)
    return receiver


def ids(answer) -> list[str]:
    return [e["event_id"] for e in answer.json()["events"]]


def test_pages_reach_every_stored_event_once(tmp_path, encoded):
    receiver = Receiver(tmp_path / "out")
    for i in range(25):
        put(receiver, encoded, f"e{i:03d}")
    client = TestClient(create_app(receiver, extensions=()))
    seen, cursor, pages = [], None, 0
    while True:
        answer = client.get("/api/events", params={"limit": 10} | ({"before": cursor} if cursor else {})).json()
        seen += [e["event_id"] for e in answer["events"]]
        pages, cursor = pages + 1, answer["next"]
        if cursor is None:
            break
    assert pages == 3 and seen == [f"e{i:03d}" for i in reversed(range(25))], "newest first, each once"
    # the gallery pages the same way, with links
    first = client.get("/")
    assert first.text.count('class="card"') == 25 and 'id="page-older"' not in first.text
    for bad, key in (({"before": "1 OR 1=1"}, "before"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
                     ({"before": "-3"}, "before"), ({"after": "1e3"}, "after"), ({"limit": "٣"}, "limit")):
        answer = client.get("/api/events", params=bad)
        assert answer.status_code == 400 and answer.json()["error"].startswith(f"{key}: "), bad
        assert client.get("/", params=bad).status_code == 400


def test_gallery_links_to_older_pages(tmp_path, encoded):
    receiver = Receiver(tmp_path / "out")
    for i in range(7):
        put(receiver, encoded, f"g{i}", camera="door" if i % 2 else "yard")
    client = TestClient(create_app(receiver, extensions=()))
    page = client.get("/", params={"limit": 3}).text
    assert page.count('class="card"') == 3 and 'id="page-older"' in page and 'data-live="1"' in page
    older = page.split('id="page-older"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older).text
    assert 'data-live="0"' in second and 'id="page-newest"' in second, "older pages do not poll"
    assert [f"g{i}" in second for i in (3, 2, 1)] == [True] * 3 and "g6" not in second
    only_door = client.get("/", params={"camera": "door", "limit": 2}).text
    link = only_door.split('id="page-older"')[0].rsplit('href="', 1)[1]
    assert "camera=door" in link, "the search stays with the pages"


def test_search_by_box_camera_time_view_and_text(planned):
    client = TestClient(create_app(planned, extensions=()))

    def find(**params):
        answer = client.get("/api/events", params=params)
        assert answer.status_code == 200, answer.text
        return sorted(ids(answer))

    assert find(device="box2") == ["ev3", "ev4"]
    assert find(device="box1", camera="yard") == ["ev2"]
    assert find(day="2026-12-01") == ["ev0", "ev1", "ev2"]
    assert find(since="2026-12-01T08:30", until="2026-12-02T09:00") == ["ev1", "ev2"], "since in, until out"
    assert find(since="2026-12-02T10:00+01:00") == ["ev3", "ev4"], "an offset is honoured"
    assert find(view="frontal") == ["ev0", "ev4"]
    assert find(view="three-quarter") == ["ev1", "ev3"], "the box's own view wins over the yaw"
    assert find(view="profile") == ["ev2"]
    assert find(q="yar") == ["ev2"] and find(q="ev4") == ["ev4"]
    assert find(q="%") == [] and find(q="_") == [], "LIKE wildcards are plain text"
    assert find(q="' OR '1'='1") == []
    assert [e["view"] for e in client.get("/api/events", params={"device": "box1"}).json()["events"]] == \
        ["profile", "three-quarter", "frontal"]
    # no people module: a person is ignored, and the answer says so
    answer = client.get("/api/events", params={"person": "7"}).json()
    assert len(answer["events"]) == 5 and answer["ignored"] == ["person"]
    assert 'id="ignored"' in client.get("/", params={"person": "7"}).text
    for params, key in (({"device": "box1' OR '1'='1"}, "device"), ({"camera": "../etc"}, "camera"),
                        ({"view": "side"}, "view"), ({"since": "yesterday"}, "since"),
                        ({"until": "2026-13-01"}, "until"), ({"day": "2026-12-1"}, "day"),
                        ({"q": "x" * 65}, "q"), ({"q": "a\x00b"}, "q")):
        answer = client.get("/api/events", params=params)
        assert answer.status_code == 400 and answer.json()["error"].startswith(f"{key}: "), params
    page = client.get("/", params={"view": "profile", "camera": "yard"}).text
    assert 'id="matching">1<' in page and "ev2" in page and "ev0" not in page
    assert client.get("/", params={"view": "<script>"}).status_code == 400


def test_a_people_extension_serves_the_person_filter_and_its_routes(planned):
    index = planned.store.index
    with index.transaction() as db:
        db.execute("CREATE TABLE sightings (person INTEGER, device TEXT, event_id TEXT)")
        db.executemany("INSERT INTO sightings VALUES (?, ?, ?)", [(1, "box1", "ev0"), (1, "box2", "ev3"),
                                                                 (2, "box1", "ev2")])

    def person(value):
        if not value.isdigit():
            raise BadQuery(f"person: expected a person's number, got {value!r}")
        return "(device, event_id) IN (SELECT device, event_id FROM sightings WHERE person = ?)", (int(value),)

    def people_routes(context):
        async def people(request):
            return JSONResponse(context.index.query("SELECT person, COUNT(*) FROM sightings GROUP BY person"))
        return [Route("/api/people", people)]

    extension = WebExtension("people", routes=people_routes, person_filter=person, nav=(("People", "/people"),))
    client = TestClient(create_app(planned, token=TOKEN, extensions=[extension]))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert sorted(ids(client.get("/api/events", params={"person": "1"}, headers=auth))) == ["ev0", "ev3"]
    answer = client.get("/api/events", params={"person": "1 OR 1=1"}, headers=auth)
    assert answer.status_code == 400 and answer.json()["error"].startswith("person: ")
    assert client.get("/api/people").status_code == 401, "behind the same token"
    assert client.get("/api/people", headers=auth).json() == [[1, 2], [2, 1]]
    page = client.get("/", headers=auth).text
    assert 'href="/people">People</a>' in page and 'id="filter-person"' in page
    assert client.get("/api/timeline", params={"day": "2026-12-01", "person": "2"},
                      headers=auth).json()["hours"][17]["count"] == 1


def test_delete_removes_files_index_rows_and_embeddings(tmp_path, encoded):
    receiver = Receiver(tmp_path / "out")
    put(receiver, encoded, "keep")
    put(receiver, encoded, "gone", quality=encoded.metadata["quality"])
    put(receiver, encoded, "gone", revision=2, best_seen="2026-12-03T10:00:00.000Z")  # an earlier revision too
    index = receiver.store.index
    with index.transaction() as db:
        db.execute("CREATE TABLE face_embeddings (device TEXT, event_id TEXT, part TEXT, vector BLOB)")
        db.executemany("INSERT INTO face_embeddings VALUES (?, ?, 'mugshot', x'00')", [("box1", "gone"),
                                                                                       ("box1", "keep")])
    folder = tmp_path / "out" / "box1"
    assert (folder / "revisions" / "gone.r1_crop.jpg").exists()
    client = TestClient(create_app(receiver, token=TOKEN, extensions=()))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.delete("/api/events/box1/gone").status_code == 401 and index.stored("box1", "gone")
    for method in ("post", "put", "patch"):
        assert getattr(client, method)("/api/events/box1/gone", headers=auth).status_code == 405
    for path in ("/api/events/box1/..%2Fkeep", "/api/events/..%2Fbox1/gone", "/api/events/box1/gone%00",
                 "/api/events/box1/gone.json", "/api/events/box1/%2E%2E", "/api/events/box1/gone'%20OR%20'1'='1"):
        assert client.delete(path, headers=auth).status_code == 404, path
        assert client.get(path, headers=auth).status_code == 404, path
    assert client.get("/api/events/box1/gone", headers=auth).json()["revision"] == 2
    assert client.delete("/api/events/box1/gone", headers=auth).status_code == 204
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["keep.json", "keep_crop.jpg",
                                                                        "keep_mugshot.jpg"]
    assert index.stored("box1", "gone") is None and index.revisions("box1", "gone") == []
    assert index.query("SELECT event_id FROM face_embeddings") == [("keep",)]
    assert index.totals() == (1, sum(p.stat().st_size for p in folder.iterdir() if p.is_file()))
    assert client.delete("/api/events/box1/gone", headers=auth).status_code == 404
    assert client.get("/events/box1/gone", headers=auth).status_code == 404
    # retention takes the embeddings with the events as well
    apply_retention(receiver.store, RetentionPolicy(max_events=0, max_age_days=1), now=4e9)
    assert index.totals()[0] == 0 and index.query("SELECT COUNT(*) FROM face_embeddings") == [(0,)]


def add_profile(receiver, encoded, event_id, **changes):
    """An event with the third picture, ``profile`` (newer boxes send it on its own image topic)."""
    receiver.handle(f"mugshot/box1/door/images/{event_id}/profile", encoded.images["crop"])
    images = encoded.metadata["images"] | {"profile": encoded.metadata["images"]["crop"]}
    pose = encoded.metadata["pose"] | {"yaw": 75.0, "view": "profile", "seen": encoded.metadata["best_seen"]}
    return put(receiver, encoded, event_id, images=images, profile_pose=pose, **changes)


def test_download_is_a_zip_of_the_pictures_and_json(tmp_path, encoded):
    receiver = Receiver(tmp_path / "out")
    meta = add_profile(receiver, encoded, "withprofile")
    client = TestClient(create_app(receiver, extensions=()))
    answer = client.get("/events/box1/withprofile/download")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"] == 'attachment; filename="box1_withprofile.zip"'
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert sorted(archive.namelist()) == ["withprofile.json", "withprofile_crop.jpg", "withprofile_mugshot.jpg",
                                          "withprofile_profile.jpg"]
    assert json.loads(archive.read("withprofile.json")) == meta
    for name in ("mugshot", "crop"):
        assert hashlib.sha256(archive.read(f"withprofile_{name}.jpg")).hexdigest() == meta["images"][name]["sha256"]
    for path in ("/events/box1/..%2Fwithprofile/download", "/events/box1/nosuch/download",
                 "/events/..%2F..%2Fetc/passwd/download"):
        assert client.get(path).status_code == 404, path
    # delete takes the profile too
    assert client.delete("/api/events/box1/withprofile").status_code == 204
    assert not list((tmp_path / "out" / "box1").glob("withprofile*"))


def test_export_a_time_range_as_csv_or_json(planned, encoded):
    put(planned, encoded, "formula", best_seen="2026-12-01T12:00:00.000Z", generator="=HYPERLINK(\"http://x\")")
    client = TestClient(create_app(planned, extensions=()))
    answer = client.get("/api/export", params={"since": "2026-12-01T08:30", "until": "2026-12-02"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="mugshot-events_2026-12-01T08-30_2026-12-02.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["event_id"] for r in rows] == ["formula", "ev2", "ev1"]
    assert rows[0]["generator"] == "'=HYPERLINK(\"http://x\")", "a spreadsheet shows it as text"
    assert rows[0]["view"] == "frontal"
    assert rows[1]["yaw"] == "-75.0" and rows[1]["view"] == "profile" and rows[1]["page"] == "/events/box1/ev2"
    documents = client.get("/api/export", params={"format": "json", "device": "box2"}).json()
    assert [d["event_id"] for d in documents] == ["ev4", "ev3"] and documents[1]["view"] == "three-quarter"
    assert all(isinstance(d["received"], float) for d in documents)
    for params, key in (({"format": "xml"}, "format"), ({"since": "1 OR 1"}, "since"),
                        ({"device": "../../x"}, "device")):
        answer = client.get("/api/export", params=params)
        assert answer.status_code == 400 and answer.json()["error"].startswith(f"{key}: ")


def test_day_timeline_by_hour(planned):
    client = TestClient(create_app(planned, extensions=()))
    hours = client.get("/api/timeline", params={"day": "2026-12-01"}).json()["hours"]
    assert [(h["hour"], h["count"]) for h in hours if h["count"]] == [("08", 2), ("17", 1)]
    assert [e["event_id"] for e in hours[8]["events"]] == ["ev1", "ev0"]
    assert hours[23]["until"] == "2026-12-02T00:00"
    page = client.get("/timeline").text  # the newest day with events
    assert "2026-12-02" in page and 'id="day-earlier"' in page and 'id="day-later"' not in page
    assert 'id="hour-23" data-count="1"' in page and 'id="hour-09" data-count="1"' in page
    page = client.get("/timeline", params={"day": "2026-12-01", "camera": "door"}).text
    assert 'id="hour-17" data-count="0"' in page and 'id="hour-08" data-count="2"' in page
    assert 'href="/?camera=door&amp;since=2026-12-01T08%3A00&amp;until=2026-12-01T09%3A00"' in page
    for day in ("2026-02-30", "../x", "2026-12-01' OR 1"):
        assert client.get("/timeline", params={"day": day}).status_code == 400
        assert client.get("/api/timeline", params={"day": day}).json()["error"].startswith("day: ")


def test_event_page_shows_the_pictures_at_one_size_and_folds_the_details(tmp_path, encoded):
    receiver = Receiver(tmp_path / "out")
    add_profile(receiver, encoded, "three")
    put(receiver, encoded, "two")
    client = TestClient(create_app(receiver, extensions=()))
    page = client.get("/events/box1/three").text
    width = encoded.metadata["images"]["crop"]["width"]
    for name in ("mugshot", "profile", "crop"):
        assert f'<figure id="{name}">' in page
    assert page.count(f'width="{width}"') == 3 and page.index('id="mugshot"') < page.index('id="profile"') \
        < page.index('id="crop"')
    assert "Profile: the camera's best side view (yaw 75.0)" in page
    assert page.index("<details") < page.index("<h2>Models</h2>") < page.index("</details>")
    assert 'id="download" href' not in page and 'href="/events/box1/three/download" id="download"' in page
    assert client.get("/files/box1/three_profile.jpg").content == encoded.images["crop"]
    assert client.get("/files/box1/three_profile.jpg.json").status_code == 404
    assert 'id="profile"' not in client.get("/events/box1/two").text


def test_every_new_endpoint_needs_the_token(planned):
    client = TestClient(create_app(planned, token=TOKEN, extensions=()))
    paths = ["/?before=3", "/api/events?before=3", "/api/events/box1/ev0", "/events/box1/ev0/download",
             "/api/export", "/api/export?format=json", "/timeline", "/api/timeline", "/static/event.js"]
    for path in paths:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer wrong-token-here"}).status_code == 401, path
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    for path in paths:
        answer = client.get(path, headers={"Authorization": f"Basic {basic}"})
        assert answer.status_code == 200 and "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_an_index_from_before_search_is_given_views_and_times(tmp_path, encoded):
    path = tmp_path / "index.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, event_id TEXT NOT "
               "NULL, camera TEXT NOT NULL, revision INTEGER NOT NULL, sequence INTEGER, best_seen TEXT NOT NULL, "
               "day TEXT NOT NULL, received REAL NOT NULL, bytes INTEGER NOT NULL, meta TEXT NOT NULL, "
               "UNIQUE (device, event_id))")
    meta = encoded.metadata | {"best_seen": "2026-12-01T08:15:00.000Z", "pose": {"yaw": -70.0}}
    meta.pop("view")  # a box from before views
    db.execute("INSERT INTO events VALUES (NULL, 'box1', 'old', 'door', 1, 0, ?, '2026-12-01', 1.0, 10, ?)",
               (meta["best_seen"], json.dumps(meta)))
    db.commit()
    db.close()
    index = EventIndex(path)
    when = datetime(2026, 12, 1, 8, 15, tzinfo=timezone.utc).timestamp()
    assert index.query("SELECT view, seen FROM events") == [("profile", when)]
