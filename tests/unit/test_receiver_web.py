"""The receiver's web app through Starlette's test client, on a real store of real events."""
import base64

import pytest
from starlette.testclient import TestClient

from edge.config import ConfigError
from edge.receiver.intake import Receiver
from edge.receiver.web import create_app
from edge.receiver.web_config import web_settings
from tests.helpers import make_event
from tests.unit.test_receiver_intake import send

TOKEN = "correct horse battery staple"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    receiver = Receiver(tmp_path_factory.mktemp("web"))
    events = [make_event(i).encode() for i in range(3)]
    send(receiver, events[0])
    send(receiver, events[1], device="box2", camera="gate", meta=events[1].metadata | {"device": "box2",
                                                                                       "camera": "gate"})
    hostile = "<script>document.title='owned'</script>"
    send(receiver, events[2], meta=events[2].metadata | {"generator": hostile, "extra": hostile})
    send(receiver, events[0], meta=events[0].metadata | {"revision": 2}, images=False)
    return receiver, events


def test_gallery_lists_filters_and_escapes(store):
    receiver, events = store
    client = TestClient(create_app(receiver))
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert all(e.event_id in page.text for e in events)
    assert "<script>document" not in page.text and "&lt;script&gt;document.title=&#39;owned&#39;" in page.text
    only_box2 = client.get("/?device=box2").text
    assert events[1].event_id in only_box2 and events[0].event_id not in only_box2
    listing = client.get("/api/events", params={"camera": "door"}).json()["events"]
    assert [e["event_id"] for e in listing] == [events[0].event_id, events[2].event_id], "newest first"
    newest = max(e["id"] for e in listing)
    assert client.get("/api/events", params={"after": newest}).json()["events"] == []


def test_event_page_labels_both_pictures_and_links_revisions(store):
    receiver, events = store
    client = TestClient(create_app(receiver))
    page = client.get(f"/events/box1/{events[0].event_id}").text
    assert "Aligned crop: no generator made this one" in page and "Camera crop: the camera's own pixels" in page
    assert f'href="/events/box1/{events[0].event_id}?revision=1"' in page
    old = client.get(f"/events/box1/{events[0].event_id}?revision=1").text
    assert "an earlier one" in old and f"/files/box1/revisions/{events[0].event_id}.r1_crop.jpg" in old
    image = client.get(f"/files/box1/revisions/{events[0].event_id}.r1_crop.jpg")
    assert image.content == events[0].images["crop"] and image.headers["content-type"] == "image/jpeg"
    assert client.get(f"/events/box2/{events[0].event_id}").status_code == 404
    assert client.get("/files/box1/..%2Findex.sqlite").status_code == 404
    assert client.get("/files/box1/index.sqlite").status_code == 404
    assert client.get(f"/files/box1/other/{events[0].event_id}_crop.jpg").status_code == 404
    hostile = client.get(f"/events/box1/{events[2].event_id}").text
    assert "<script>document" not in hostile and "&lt;script&gt;" in hostile


def test_health_and_metrics(store):
    receiver, events = store
    client = TestClient(create_app(receiver))
    assert client.get("/healthz").json()["broker"] == "connected"
    text = client.get("/metrics").text
    assert 'mugshot_receiver_events_received_total{device="box1"} 3.0' in text  # 2 events + 1 revision
    assert 'mugshot_receiver_events_received_total{device="box2"} 1.0' in text
    assert 'mugshot_receiver_last_event_age_seconds{device="box2"}' in text
    assert "mugshot_receiver_stored_events 3.0" in text


def test_a_token_guards_everything_but_healthz(store):
    receiver, _ = store
    client = TestClient(create_app(receiver, token=TOKEN))
    assert client.get("/").status_code == 401 and "Basic" in client.get("/").headers["www-authenticate"]
    assert client.get("/metrics").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong-token-here"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    assert client.get("/metrics", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_web_settings_need_a_token_beyond_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv("MUGSHOT_RECEIVE_TOKEN", raising=False)
    assert web_settings("127.0.0.1:8080").token is None
    with pytest.raises(ConfigError, match="--http: 0.0.0.0 is not loopback: give a password/token"):
        web_settings("0.0.0.0:8080")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    settings = web_settings("0.0.0.0:8080", token_file=str(token))
    assert settings.token == TOKEN and TOKEN not in repr(settings)
    monkeypatch.setenv("WEB_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 12 characters"):
        web_settings("[::]:8080", token_env="WEB_TOKEN")
    with pytest.raises(ConfigError, match="port must be 1-65535"):
        web_settings("127.0.0.1:99999")


def test_cli_refuses_a_public_address_without_a_token(tmp_path, monkeypatch, caplog):
    from edge.receiver.cli import main

    monkeypatch.delenv("MUGSHOT_RECEIVE_TOKEN", raising=False)
    assert main(["--broker", "127.0.0.1:1", "--out", str(tmp_path), "--http", "0.0.0.0:8080"]) == 78
    assert "--http: 0.0.0.0 is not loopback" in caplog.text
    assert main(["--broker", "127.0.0.1:1", "--out", str(tmp_path), "--share-group", "g",
                 "--protocol", "3.1.1"]) == 78
    assert "--share-group: needs --protocol 5" in caplog.text
    assert not list(tmp_path.iterdir()), "nothing started"


def test_a_frontalized_mugshot_is_labelled_as_such(tmp_path):
    receiver = Receiver(tmp_path)
    event = make_event(7).encode()
    meta = event.metadata | {"generator": "frontalize",
                             "pose": event.metadata["pose"] | {"source": "mesh"}}
    send(receiver, event, meta=meta)
    client = TestClient(create_app(receiver))
    page = client.get(f"/events/box1/{event.event_id}").text
    assert "Frontalized view: the face's own 3-D mesh turned frontal" in page
    assert "<th>source</th><td>mesh</td>" in page
    assert "Frontalized view (face mesh)" in client.get("/").text


def test_an_upsampled_mugshot_says_from_what_size(tmp_path):
    receiver = Receiver(tmp_path)
    event = make_event(8).encode()
    generator = {"name": "refiner", "output_size": 128, "published_size": 256, "upsampling": "bicubic"}
    send(receiver, event, meta=event.metadata | {"generator": "refiner",
                                                 "models": event.metadata["models"] | {"generator": generator}})
    client = TestClient(create_app(receiver))
    assert "(upsampled from 128 px, bicubic)" in client.get(f"/events/box1/{event.event_id}").text
    plain = make_event(9).encode()  # older events say nothing about it
    send(receiver, plain)
    assert "upsampled" not in client.get(f"/events/box1/{plain.event_id}").text


def test_malformed_numbers_in_urls_are_400_or_404_never_500(store):
    receiver, events = store
    client = TestClient(create_app(receiver), raise_server_exceptions=False)
    for query in ("after=99999999999999999999999", "after=²", "after=-1", "limit=1e3", "limit=99999999999999999999"):
        assert client.get(f"/api/events?{query}").status_code == 400, query
    page = f"/events/box1/{events[0].event_id}"
    for revision in ("99999999999999999999999", "²", "-1", "1.0"):
        assert client.get(f"{page}?revision={revision}").status_code == 404, revision
    assert client.get(f"{page}?revision=1").status_code == 200


def test_failed_logins_are_logged_and_rate_limited_per_client(store, caplog):
    receiver, _ = store
    app = create_app(receiver, token=TOKEN)
    attacker = TestClient(app, client=("203.0.113.9", 50000))
    neighbour = TestClient(app, client=("198.51.100.7", 50000))
    with caplog.at_level("WARNING"):
        codes = [attacker.get("/", headers={"Authorization": f"Bearer guess-{i}"}).status_code for i in range(300)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    assert attacker.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429, "blocked, not probed"
    assert "failed login from 203.0.113.9 to / (1 in the last 60 s)" in caplog.text
    assert "failed login from 203.0.113.9 to /: 10 in 60 s, refused for 60 s" in caplog.text
    assert len([r for r in caplog.records if "203.0.113.9" in r.getMessage()]) == 10, "the log is not flooded"
    assert neighbour.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert neighbour.get("/").status_code == 401  # no credentials yet (a browser before it asks): not a failure
    assert "198.51.100.7" not in caplog.text


def test_the_live_api_pages_oldest_first_after_an_id(tmp_path):
    receiver = Receiver(tmp_path)
    for i in range(7):
        send(receiver, make_event(i).encode())
    client = TestClient(create_app(receiver))
    seen, after = [], 0
    while True:
        answer = client.get(f"/api/events?after={after}&limit=3&order=oldest").json()
        seen += [e["id"] for e in answer["events"]]
        if len(answer["events"]) < answer["limit"]:
            break
        after = seen[-1]
    assert seen == sorted(seen) and len(seen) == 7
