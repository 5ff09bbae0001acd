"""The daemon as a systemd service: sd_notify, watchdog, signals, exit codes, the unit, the installer."""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import cv2
import pytest

from edge.config import load_config
from tests.conftest import ROOT
from tests.helpers import Recorder, wait
from tests.processes import follow_log, stop

pytestmark = pytest.mark.integration

UNIT = ROOT / "systemd" / "mugshot-edge.service"


@pytest.fixture
def frames_dir(tmp_path, shared_data):
    """Real frames of a person (from a clip), as a folder the daemon replays in a loop."""
    folder = tmp_path / "frames"
    folder.mkdir()
    capture = cv2.VideoCapture(str(shared_data / "video" / "single_face.mp4"))
    for i in range(40):
        ok, frame = capture.read()
        if not ok:
            break
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), frame)
    return folder


class NotifySocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self):
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def lines(self, prefix, since=0.0):
        return [m for t, m in self.messages if m.startswith(prefix) and t >= since]

    def wait(self, prefix, timeout=30.0, since=0.0, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.lines(prefix, since)) >= count:
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self._stop = True
        self.sock.close()


def write_config(path, frames_dir, extra="", camera="porch", threshold=25):
    path.write_text(f'[device]\nid = "box1"\n[camera]\nname = "{camera}"\ntype = "images"\nuri = "{frames_dir}"\n'
                    f'pace = "realtime"\nfps = 15.0\non_end = "loop"\nstall_timeout = 2.0\n'
                    f'reopen_backoff_max = 1.0\n[motion]\nthreshold = {threshold}\n'
                    f'[[publishers]]\ntype = "directory"\npath = "events"\n{extra}')


def start_daemon(config, notify_path=None, watchdog_usec=None):
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    if notify_path:
        env["NOTIFY_SOCKET"] = str(notify_path)
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)


def test_ready_watchdog_status_and_pings_stop_when_the_camera_stalls(tmp_path, frames_dir):
    notify = NotifySocket(tmp_path / "notify.sock")
    config = tmp_path / "config.toml"
    write_config(config, frames_dir)
    daemon = start_daemon(config, notify.path, watchdog_usec=400_000)  # ping every 0.2 s
    try:
        assert notify.wait("READY=1", timeout=60), daemon.stderr.read() if daemon.poll() is not None else ""
        ready_at = time.monotonic()
        assert notify.wait("WATCHDOG=1", since=ready_at, count=5, timeout=10)
        assert notify.wait("STATUS=", timeout=10)
        assert any("fps" in s and "events" in s for s in notify.lines("STATUS="))
        for image in frames_dir.iterdir():  # the camera stops delivering
            image.unlink()
        # frames already in flight drain; then the pings stop: wait (deadline 30 s) for 2 s, ten ping periods,
        # without one, rather than assuming how long draining takes on a loaded machine
        removed_at, deadline = time.monotonic(), time.monotonic() + 30
        while time.monotonic() < deadline:
            pings = notify.lines("WATCHDOG=1", since=removed_at)
            last = max([t for t, line in list(notify.messages) if line.startswith("WATCHDOG=1")], default=removed_at)
            if time.monotonic() - last >= 2.0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"pings went on for 30 s without frames: {len(pings)} since the camera stopped")
        assert daemon.poll() is None, "the daemon keeps trying, systemd's watchdog decides"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        assert notify.lines("STOPPING=1")
    finally:
        if daemon.poll() is None:
            daemon.kill()
        notify.close()


def test_sigterm_stops_cleanly_publishes_stopped_and_keeps_the_spool(tmp_path, frames_dir, broker):
    recorder = Recorder(broker.port, topics=["mugshot/box1/status", "mugshot/box1/+/event"])
    notify = NotifySocket(tmp_path / "notify.sock")
    config = tmp_path / "config.toml"
    write_config(config, frames_dir, extra=f'[[publishers]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
                                           f'spool_path = "spool.sqlite"\n')
    daemon = start_daemon(config, notify.path)
    try:
        assert notify.wait("READY=1", timeout=60)
        assert recorder.wait_for(lambda r: r.payloads("mugshot/box1/status")[-1:] == [b"online"])

        def tracked(r):  # events of a face still tracked: a first revision out, its final one not yet
            events = r.events()
            ended = {e["event_id"] for e in events if e["final"]}
            return [e["event_id"] for e in events if not e["final"] and e["event_id"] not in ended]
        assert recorder.wait_for(tracked, timeout=60), "a face is tracked: an event is in flight at SIGTERM"
        in_flight = tracked(recorder)[-1]
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        assert time.monotonic() - started < 20
        assert recorder.wait_for(lambda r: r.payloads("mugshot/box1/status")[-1:] == [b"stopped"])
        db = sqlite3.connect(tmp_path / "spool.sqlite")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        spooled = [json.loads(m) for (m,) in db.execute("SELECT metadata FROM events WHERE event_id = ?",
                                                           (in_flight,))]
        # the track in flight was closed at SIGTERM: its final revision was delivered or is still spooled
        assert any(m["final"] for m in spooled) or recorder.wait_for(
            lambda r: any(e["event_id"] == in_flight and e["final"] for e in r.events()), timeout=10), \
            (in_flight, spooled, [(e["event_id"], e["revision"], e["final"]) for e in recorder.events()])
        assert len(list((tmp_path / "events").glob("*.json"))) >= 1
    finally:
        if daemon.poll() is None:
            daemon.kill()
        notify.close()
        recorder.stop()


def test_sighup_reloads_a_good_config_and_rejects_a_broken_one(tmp_path, frames_dir):
    notify = NotifySocket(tmp_path / "notify.sock")
    config = tmp_path / "config.toml"
    write_config(config, frames_dir)
    daemon = follow_log(start_daemon(config, notify.path, watchdog_usec=400_000))
    try:
        assert notify.wait("READY=1", timeout=60)
        write_config(config, frames_dir, threshold=30)
        daemon.send_signal(signal.SIGHUP)
        assert notify.wait("RELOADING=1", timeout=10)
        assert notify.wait("READY=1", count=2, timeout=60), "ready again with the new configuration"
        config.write_text(config.read_text().replace("threshold = 30", 'threshold = "loud"'))
        daemon.send_signal(signal.SIGHUP)
        assert wait(lambda: any("reload rejected" in line for line in daemon.log), timeout=30), daemon.log[-5:]
        since = time.monotonic()  # the broken configuration was read and refused: from here on, still pinging
        assert notify.wait("WATCHDOG=1", since=since, count=3, timeout=10), "still running the old config"
        assert daemon.poll() is None and len(notify.lines("RELOADING=1")) == 1
        assert stop(daemon, 20) == 0  # SIGTERM (SIGKILL after 20 s), and its log read to the end
        err = "".join(daemon.log)
        assert "configuration" in err and "reloaded" in err
        assert "reload rejected, keeping the running configuration: motion.threshold: expected an integer" in err
    finally:
        if daemon.poll() is None:
            daemon.kill()
        notify.close()


@pytest.mark.parametrize("case, expected", [("bad-config", 78), ("missing-camera", 69), ("broken-model", 69),
                                            ("unwritable-events", 78), ("other", 1)])
def test_exit_codes(tmp_path, case, expected, frames_dir):
    config = tmp_path / "config.toml"
    if case == "bad-config":
        config.write_text("[motion]\nthreshold = -1\n")
    elif case == "missing-camera":
        config.write_text('[camera]\nuri = "/dev/video-that-is-not-there"\n')
    elif case == "broken-model":
        (tmp_path / "detector.onnx").write_text("not a model")
        write_config(config, frames_dir)
        config.write_text(config.read_text() + '[detector]\nmodel = "detector.onnx"\n')
    elif case == "unwritable-events":
        (tmp_path / "a-file").write_text("x")
        write_config(config, frames_dir)
        config.write_text(config.read_text().replace('path = "events"', 'path = "a-file/events"'))
    else:  # a spool file that is not a database
        (tmp_path / "spool.sqlite").write_text("not a database, " * 100)
        write_config(config, frames_dir, extra='[[publishers]]\ntype = "mqtt"\nspool_path = "spool.sqlite"\n')
    result = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(config)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == expected, result.stderr
    assert "Traceback" not in result.stderr or expected == 1
    if case == "unwritable-events":
        assert result.stderr.strip().endswith("publishers[0].path: cannot write events to "
                                              f"{tmp_path / 'a-file/events'}: Not a directory")


def test_unit_passes_systemd_analyze_verify_and_security(tmp_path, capsys):
    binary = shutil.which("mugshot-edge") or str(ROOT / ".venv" / "bin" / "mugshot-edge")
    assert os.path.exists(binary)
    unit = tmp_path / "mugshot-edge.service"
    unit.write_text(UNIT.read_text().replace("/opt/mugshot-edge/venv/bin/mugshot-edge", binary))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stdout + verify.stderr == "", verify.stdout + verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True,
                              text=True)
    match = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", security.stdout)
    assert match, security.stdout[-500:] + security.stderr
    with capsys.disabled():
        print(f"\n[systemd] systemd-analyze security --offline=yes: exposure {match.group(1)} {match.group(2)}")
    assert float(match.group(1)) < 3.0


def test_unit_has_what_the_service_needs():
    text = UNIT.read_text()
    for line in ("Type=notify", "NotifyAccess=main", "Restart=on-failure", "RestartPreventExitStatus=78",
                 "StateDirectory=mugshot-edge", "ConfigurationDirectory=mugshot-edge", "ProtectSystem=strict",
                 "DevicePolicy=closed", "DeviceAllow=char-video4linux rw", "DeviceAllow=char-media rw",
                 "DeviceAllow=char-dma_heap rw", "SupplementaryGroups=video mugshot-edge", "NoNewPrivileges=yes"):
        assert line in text.splitlines(), line
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    assert "/dev/video*" not in text.replace("such as /dev/video*", "")


def test_install_dry_run_prints_every_step(tmp_path):
    result = subprocess.run([sys.executable, "-m", "edge.daemon.install", "--dry-run", "--pi"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "-m venv --system-site-packages /opt/mugshot-edge/venv" in out
    # picamera2 (from apt) imports simplejpeg: the pi extra's one works with the venv's numpy 2
    assert f"pip install --quiet '{ROOT}[tflite,pi]'" in out
    assert "write the default config /etc/mugshot-edge/config.toml (camera picamera2)" in out
    assert "install the unit /etc/systemd/system/mugshot-edge.service" in out
    assert "systemctl enable --now mugshot-edge" in out
    assert not os.path.exists("/etc/mugshot-edge/config.toml") or "keep the existing config" in out


def test_install_into_a_temporary_root_and_uninstall(tmp_path):
    root = tmp_path / "root"
    cmd = [sys.executable, "-m", "edge.daemon.install", "--root", str(root), "--not-pi", "--no-deps"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    unit = (root / "etc/systemd/system/mugshot-edge.service").read_text()
    assert "ExecStart=/opt/mugshot-edge/venv/bin/mugshot-edge run --config /etc/mugshot-edge/config.toml" in unit
    assert (root / "opt/mugshot-edge/venv/bin/mugshot-edge").exists()
    config = root / "etc/mugshot-edge/config.toml"
    cfg = load_config(config)
    assert cfg.publishers[0].path == "/var/lib/mugshot-edge/events" and cfg.camera.type == "opencv"
    config.write_text(config.read_text() + "# edited by the owner\n")
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "keep the existing config" in again.stdout
    assert config.read_text().endswith("# edited by the owner\n")
    gone = subprocess.run([sys.executable, "-m", "edge.daemon.install", "--uninstall", "--root", str(root)], cwd=ROOT,
                          capture_output=True, text=True)
    assert gone.returncode == 0
    assert not (root / "etc/systemd/system/mugshot-edge.service").exists()
    assert not (root / "opt/mugshot-edge").exists()
    assert config.exists(), "the config is kept"
