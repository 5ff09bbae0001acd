"""TLS with certificates made here by openssl, passwords, and an ACL, against a real Mosquitto."""
import subprocess
import time

import pytest

from edge.config import ConfigError, MqttPublisherConfig, config_from_dict
from edge.publish.mqtt import MqttPublisher
from edge.tools.local_broker import Broker
from tests.helpers import Recorder, make_event, wait

pytestmark = pytest.mark.integration


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)


def make_cert(folder, name, ca, san=None):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=folder)
    ext = folder / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.crt", "-extfile", ext.name, cwd=folder)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    make_ca(folder, "ca")
    make_ca(folder, "otherca")
    make_cert(folder, "server", "ca", san="IP:127.0.0.1,DNS:localhost")
    make_cert(folder, "client", "ca")
    return folder


ACL = "user box1\ntopic readwrite mugshot/box1/#\ntopic readwrite homeassistant/#\n\nuser desk\ntopic read mugshot/#\n"


@pytest.fixture
def secure_broker(tmp_path, pki):
    broker = Broker(tmp_path / "broker", tls={"ca": pki / "ca.crt", "cert": pki / "server.crt",
                                              "key": pki / "server.key"},
                    passwords={"box1": "right-password", "desk": "desk-password"}, acl=ACL).start()
    yield broker
    broker.stop()


def secure_publisher(broker, tmp_path, pki, password, ca="ca.crt", prefix="", client_cert=False):
    (tmp_path / "password").write_text(password + "\n")
    cfg = MqttPublisherConfig(host="127.0.0.1", port=broker.port, tls=True, ca_file=str(pki / ca),
                              cert_file=str(pki / "client.crt") if client_cert else "",
                              key_file=str(pki / "client.key") if client_cert else "",
                              username="box1", password_file=str(tmp_path / "password"),
                              spool_path=str(tmp_path / "spool.sqlite"), topic_prefix=prefix, reconnect_max=1.0)
    return MqttPublisher(cfg, device_id="box1", cameras=["door"])


def desk(broker, pki):
    return Recorder(broker.port, topics=["mugshot/#"], tls=True, ca_file=str(pki / "ca.crt"), username="desk",
                    password="desk-password")


def test_tls_with_password_and_client_certificate_delivers(secure_broker, tmp_path, pki):
    recorder = desk(secure_broker, pki)
    publisher = secure_publisher(secure_broker, tmp_path, pki, "right-password", client_cert=True)
    event = make_event(1)
    publisher.publish(event)
    assert recorder.wait_for(lambda r: [e["event_id"] for e in r.events()] == [event.event_id])
    publisher.close()
    recorder.stop()


def test_wrong_ca_is_a_clear_error_and_events_stay_spooled(secure_broker, tmp_path, pki, caplog):
    publisher = secure_publisher(secure_broker, tmp_path, pki, "right-password", ca="otherca.crt")
    publisher.publish(make_event(2))
    # the broker logs each handshake the client refused: two lines, the first try and a retry
    assert wait(lambda: secure_broker.log.read_text().count("alert unknown ca") >= 2, timeout=30), \
        secure_broker.log.read_text()
    assert not publisher.connection.connected.is_set()
    assert "certificate verify failed" in publisher.connection.last_error
    assert "TLS to 127.0.0.1" in publisher.connection.last_error
    assert publisher.status()["spool"] == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0], "one clear line, not one per retry"
    publisher.close(drain_seconds=0)


def test_wrong_password_is_a_clear_error_with_the_reason_code(secure_broker, tmp_path, pki):
    publisher = secure_publisher(secure_broker, tmp_path, pki, "wrong-password")
    deadline = time.monotonic() + 10
    while "refused" not in publisher.connection.last_error and time.monotonic() < deadline:
        time.sleep(0.05)
    error = publisher.connection.last_error
    assert "refused the connection" in error and "reason code 1" in error  # 134/135: bad password/not authorised
    assert "wrong-password" not in error
    publisher.close(drain_seconds=0)


def test_acl_allows_only_the_devices_own_prefix(secure_broker, tmp_path, pki):
    recorder = desk(secure_broker, pki)
    intruder = secure_publisher(secure_broker, tmp_path, pki, "right-password", prefix="mugshot/box2")
    assert intruder.connection.connected.wait(10)
    intruder.publish(make_event(3))
    deadline = time.monotonic() + 10
    while intruder.status()["rejected"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert intruder.status()["rejected"] == 1 and intruder.status()["spool"] == 0
    assert recorder.events() == []
    intruder.close()
    recorder.stop()


def test_password_comes_from_env_or_file_never_config(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"publishers\[0\]\.password: unknown key"):
        config_from_dict({"publishers": [{"type": "mqtt", "password": "x"}]})
    with pytest.raises(ConfigError, match=r"publishers\[0\].tls: ca_file/cert_file are set but tls = false"):
        (tmp_path / "ca.crt").write_text("x")
        config_from_dict({"publishers": [{"type": "mqtt", "ca_file": "ca.crt"}]}, base_dir=tmp_path)
    monkeypatch.delenv("MUGSHOT_PW", raising=False)
    cfg = MqttPublisherConfig(password_env="MUGSHOT_PW", spool_path=str(tmp_path / "s.sqlite"))
    with pytest.raises(ConfigError, match="publishers\\[0\\].password_env: environment variable MUGSHOT_PW is not set"):
        MqttPublisher(cfg, device_id="box1", cameras=["door"])


def test_password_hidden_from_repr_and_plaintext_credentials_warned_once(tmp_path, pki, caplog):
    broker = Broker(tmp_path / "plain", passwords={"box1": "right-password"}).start()
    (tmp_path / "password").write_text("right-password\n")
    cfg = MqttPublisherConfig(host="127.0.0.1", port=broker.port, username="box1", reconnect_max=1.0,
                              password_file=str(tmp_path / "password"), spool_path=str(tmp_path / "spool.sqlite"),
                              discovery=False)
    try:
        publisher = MqttPublisher(cfg, device_id="box1", cameras=["door"])
        assert publisher.connection.connected.wait(10), publisher.connection.last_error
        assert "right-password" not in repr(publisher.connection.settings)
        assert "right-password" not in repr(publisher.connection)
        broker.stop()
        assert wait_until(lambda: not publisher.connection.connected.is_set())
        broker.start()
        assert publisher.connection.connected.wait(15), "reconnected"
        warnings = [r for r in caplog.records if "without TLS" in r.getMessage()]
        assert len(warnings) == 1 and "right-password" not in warnings[0].getMessage()
        publisher.close()
    finally:
        broker.stop()
    caplog.clear()
    secure = Broker(tmp_path / "secure", tls={"ca": pki / "ca.crt", "cert": pki / "server.crt",
                                              "key": pki / "server.key"},
                    passwords={"box1": "right-password"}).start()
    try:
        publisher = secure_publisher(secure, tmp_path, pki, "right-password")
        assert publisher.connection.connected.wait(10), publisher.connection.last_error
        assert not [r for r in caplog.records if "without TLS" in r.getMessage()]
        publisher.close()
    finally:
        secure.stop()


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_the_receiver_over_tls_with_a_password_from_the_environment(secure_broker, tmp_path, pki, monkeypatch):
    """``mugshot-receive --tls --ca-file --username --password-env`` against the TLS broker with passwords."""
    from tests.processes import running_receiver

    monkeypatch.setenv("MUGSHOT_DESK_PASSWORD", "desk-password")
    out = tmp_path / "received"
    publisher = secure_publisher(secure_broker, tmp_path, pki, "right-password")
    try:
        with running_receiver(secure_broker.port, out, "--tls", "--ca-file", str(pki / "ca.crt"), "--username",
                              "desk", "--password-env", "MUGSHOT_DESK_PASSWORD") as receiver:
            event = make_event(5)
            publisher.publish(event)
            deadline = time.monotonic() + 20
            while not (out / "box1" / f"{event.event_id}.json").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert (out / "box1" / f"{event.event_id}_mugshot.jpg").read_bytes() == event.encode().images["mugshot"]
    finally:
        publisher.close()
    assert receiver.returncode == 0


def test_the_receiver_with_a_wrong_ca_does_not_connect(secure_broker, tmp_path, pki, monkeypatch):
    from tests.processes import running_receiver

    monkeypatch.setenv("MUGSHOT_DESK_PASSWORD", "desk-password")
    with pytest.raises(AssertionError, match="did not get ready"):
        with running_receiver(secure_broker.port, tmp_path / "out", "--tls", "--ca-file", str(pki / "otherca.crt"),
                              "--username", "desk", "--password-env", "MUGSHOT_DESK_PASSWORD", ready_timeout=8):
            pass
