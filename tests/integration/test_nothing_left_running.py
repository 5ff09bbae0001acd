"""A test that fails on purpose leaves no process behind: a pytest run in a subprocess starts a real mosquitto
and a real receiver (the suite's ``broker`` fixture and ``tests.processes.running_receiver``), fails, and
afterwards neither process is alive.  The same run without the context manager leaves the receiver running,
which shows the check can fail.  And the demo stops its broker when the demo fails."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

FAILING_TEST = '''
import os
from pathlib import Path

from tests.processes import running_receiver, start_receiver


def test_fails_on_purpose(broker, tmp_path):
    pids = Path(os.environ["PIDS_FILE"])
    pids.write_text(str(broker.process.pid))
    if os.environ["GUARDED"] == "1":
        with running_receiver(broker.port, tmp_path / "out") as receiver:
            pids.write_text(f"{broker.process.pid} {receiver.pid}")
            assert False, "failed on purpose"
    receiver = start_receiver(broker.port, tmp_path / "out")  # no guarantee that it stops
    pids.write_text(f"{broker.process.pid} {receiver.pid}")
    assert False, "failed on purpose"
'''


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("guarded", [True, False])
def test_a_failing_test_leaves_nothing_running(tmp_path, guarded):
    test_file = tmp_path / "test_fails_on_purpose.py"
    test_file.write_text(FAILING_TEST)
    pids_file = tmp_path / "pids"
    env = os.environ | {"PIDS_FILE": str(pids_file), "GUARDED": "1" if guarded else "0",
                        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.integration.conftest",
                             "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(test_file)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout + result.stderr
    assert "failed on purpose" in result.stdout
    broker_pid, receiver_pid = (int(v) for v in pids_file.read_text().split())
    assert not alive(broker_pid), "the broker outlived the failing test"
    try:
        if guarded:
            assert not alive(receiver_pid), "the receiver outlived the failing test"
        else:
            assert alive(receiver_pid), "without running_receiver the receiver is left behind (the check can fail)"
    finally:
        if alive(receiver_pid):
            os.kill(receiver_pid, 9)


def test_the_demo_stops_its_broker_when_it_fails(tmp_path, monkeypatch):
    from edge.daemon import pipeline
    from edge.tools import demo, local_broker

    started = []
    start = local_broker.start_local_broker
    monkeypatch.setattr(local_broker, "start_local_broker", lambda workdir: started.append(start(workdir))
                        or started[-1])

    def broken_pipeline(*args, **kwargs):
        assert started and alive(started[0].process.pid), "the broker runs while the demo does"
        raise RuntimeError("the pipeline failed on purpose")

    monkeypatch.setattr(pipeline, "build_pipeline", broken_pipeline)
    with pytest.raises(RuntimeError, match="on purpose"):
        demo.run_demo(tmp_path / "demo")
    (broker,) = started
    assert broker.process is None, "the demo stopped its broker on the way out"


def test_killed_after_ends_a_blocked_read_and_stops_the_process_on_a_failure():
    """``tests.processes.killed_after``: a process that never writes is killed at the deadline (the read
    blocked on it ends at EOF), and one still running when its block fails is stopped on the way out."""
    import time

    from tests.processes import killed_after

    silent = [sys.executable, "-c", "import time; time.sleep(600)"]
    started = time.monotonic()
    with killed_after(subprocess.Popen(silent, stdout=subprocess.PIPE, text=True), 2) as process:
        assert process.stdout.readline() == "", "EOF once the watchdog killed it"
    assert time.monotonic() - started >= 2 and process.returncode == -9 and not alive(process.pid)
    with pytest.raises(AssertionError, match="on purpose"):
        with killed_after(subprocess.Popen(silent), 600) as process:
            assert False, "failed on purpose"
    assert process.returncode is not None and not alive(process.pid), "stopped at once, not at its deadline"
