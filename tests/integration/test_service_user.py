"""The unit's ExecStart run as the unit would run it (without systemd as PID 1): an unprivileged
uid in the dynamic range with the unit's SupplementaryGroups, via setpriv; and a camera that
comes up late.

Not testable here (it needs systemd as PID 1): systemd allocating the dynamic user, setting up
StateDirectory=/ConfigurationDirectory= and the mount namespace, and its restart and start-rate
logic itself.  What is tested is what those rely on: the files the installer writes are
readable by that uid through the unit's groups, and a missing camera is an exit code that the
unit retries with no start limit.
"""
import grp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.test_service import UNIT, NotifySocket, frames_dir, start_daemon, write_config  # noqa: F401

pytestmark = pytest.mark.integration

DYNAMIC_UID = 61998  # in systemd's DynamicUser= range (61184-65519), owned by no one here
SERVICE_GID = 61999  # stands for the static mugshot-edge group the installer creates


def unit_setting(name: str) -> list[str]:
    return re.findall(rf"^{name}=(.*)$", UNIT.read_text(), re.M)


@pytest.fixture
def open_root():
    """A folder any uid can traverse (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="mugshot-root-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_exec_start(root: Path, groups: list[int]) -> subprocess.CompletedProcess:
    exec_start = (root / "etc/systemd/system/mugshot-edge.service").read_text()
    argv = re.search(r"^ExecStart=(.*)$", exec_start, re.M).group(1).split()
    argv[0] = str(ROOT / ".venv" / "bin" / "mugshot-edge")  # the installed venv has no dependencies (--no-deps)
    argv = [str(root / a.lstrip("/")) if a.startswith("/etc/") else a for a in argv]
    state, cache = root / "var/lib/mugshot-edge", root / "var/cache/mugshot-edge"
    env = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": str(state), "CACHE_DIRECTORY": str(cache),
           "HOME": str(state), "PYTHONUNBUFFERED": "1"}
    umask = unit_setting("UMask")[0]
    setpriv = ["setpriv", f"--reuid={DYNAMIC_UID}", f"--regid={DYNAMIC_UID}",
               f"--groups={','.join(map(str, groups))}", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return subprocess.run(["sh", "-c", f'umask {umask}; exec "$@"', "sh", *setpriv, *argv], cwd="/", env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_installed_service_reads_its_config_as_the_units_user_and_groups(open_root):
    assert unit_setting("DynamicUser") == ["yes"]
    groups = unit_setting("SupplementaryGroups")[0].split()
    assert groups == ["video", "mugshot-edge"]
    install = subprocess.run([sys.executable, "-m", "edge.daemon.install", "--root", str(open_root), "--not-pi",
                              "--no-deps", "--group", str(SERVICE_GID)], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    config = open_root / "etc/mugshot-edge/config.toml"
    assert (config.stat().st_gid, config.stat().st_mode & 0o777) == (SERVICE_GID, 0o640)
    assert (config.parent.stat().st_gid, config.parent.stat().st_mode & 0o777) == (SERVICE_GID, 0o750)
    # what StateDirectory= and CacheDirectory= do: the dynamic user's own folders
    for folder in ("var/lib/mugshot-edge", "var/cache/mugshot-edge"):
        (open_root / folder).mkdir(parents=True)
        os.chown(open_root / folder, DYNAMIC_UID, DYNAMIC_UID)
        (open_root / folder).chmod(0o700)
    for parent in ("var", "var/lib", "var/cache"):
        (open_root / parent).chmod(0o755)
    text = config.read_text().replace('"/var/lib/mugshot-edge/events"', f'"{open_root}/var/lib/mugshot-edge/events"')
    config.write_text(text)

    video = grp.getgrnam("video").gr_gid
    result = run_exec_start(open_root, [video, SERVICE_GID])
    assert "Permission denied" not in result.stderr, result.stderr
    assert result.returncode == 69 and "cannot open camera" in result.stderr, \
        "it read its config and got as far as the camera (there is none here)\n" + result.stderr
    assert "Traceback" not in result.stderr

    outsider = run_exec_start(open_root, [video])  # the same uid without the group: the config stays private
    assert outsider.returncode == 78 and "Permission denied" in outsider.stderr, outsider.stderr
    assert len(outsider.stderr.strip().splitlines()) == 1, "one line, no traceback"


def test_a_camera_that_comes_up_late_is_retried_not_given_up(tmp_path, shared_data):
    assert unit_setting("StartLimitIntervalSec") == ["0"] and not unit_setting("StartLimitBurst"), \
        "no start limit: systemd must keep restarting a box whose camera is not there yet"
    assert unit_setting("Restart") == ["on-failure"]
    prevented = " ".join(unit_setting("RestartPreventExitStatus")).split()
    assert "69" not in prevented and "78" in prevented
    camera = tmp_path / "camera.mp4"  # a camera that appears later
    config = tmp_path / "config.toml"
    config.write_text(f'[device]\nid = "box1"\n[camera]\nname = "porch"\ntype = "opencv"\nuri = "{camera}"\n'
                      f'on_end = "loop"\n[[publishers]]\ntype = "directory"\npath = "events"\n')
    early = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(config)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert early.returncode == 69, early.stderr  # retried by Restart=on-failure
    assert "camera.uri" in early.stderr and "Traceback" not in early.stderr
    shutil.copy(shared_data / "video" / "single_face.mp4", camera)
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = start_daemon(config, notify.path)
    try:
        assert notify.wait("READY=1", timeout=60), "the next start finds the camera"
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(20)
        assert code == 0, daemon.stderr.read()[-3000:]  # once (in a full run) it aborted (-6): say where
    finally:
        if daemon.poll() is None:
            daemon.kill()
        notify.close()


def test_a_reload_whose_model_is_broken_keeps_the_old_configuration_running(tmp_path, frames_dir):
    notify = NotifySocket(tmp_path / "notify.sock")
    config = tmp_path / "config.toml"
    write_config(config, frames_dir)
    daemon = start_daemon(config, notify.path, watchdog_usec=400_000)
    try:
        assert notify.wait("READY=1", timeout=60)
        (tmp_path / "broken.onnx").write_bytes(b"not a model")
        config.write_text(config.read_text() + '[detector]\nmodel = "broken.onnx"\n')
        daemon.send_signal(signal.SIGHUP)
        assert notify.wait("RELOADING=1", timeout=10)
        assert notify.wait("READY=1", count=2, timeout=60), "running again, on the old configuration"
        since = time.monotonic()
        assert notify.wait("WATCHDOG=1", since=since, count=3, timeout=10) and daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        err = daemon.stderr.read()
        assert "reload rejected, keeping the running configuration" in err and "broken.onnx" in err
    finally:
        if daemon.poll() is None:
            daemon.kill()
        notify.close()
