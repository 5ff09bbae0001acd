"""The directory sink against planted links, its file modes, and a process killed mid-write."""
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys

from edge.publish.directory import DirectoryPublisher
from tests.conftest import ROOT
from tests.helpers import make_event


def test_links_planted_in_the_folder_are_never_followed(tmp_path):
    out, outside = tmp_path / "events", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    event = make_event(1)
    victims = {}
    for name in (f"{event.event_id}.json", f"{event.event_id}_mugshot.jpg", f"{event.event_id}_crop.jpg"):
        for planted in (name, f".{name}.tmp"):  # the final name and the temporary name writers used
            victim = outside / f"victim-{planted}"
            victim.write_bytes(b"do not touch")
            (out / planted).symlink_to(victim)
            victims[planted] = victim
    publisher = DirectoryPublisher(out)
    publisher.publish(event)
    publisher.close()
    assert all(v.read_bytes() == b"do not touch" for v in victims.values())
    for name in (f"{event.event_id}.json", f"{event.event_id}_mugshot.jpg", f"{event.event_id}_crop.jpg"):
        assert not (out / name).is_symlink() and (out / name).is_file()
    assert json.loads((out / f"{event.event_id}.json").read_text())["event_id"] == event.event_id


def test_files_are_0640_and_folders_0750_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "a" / "events"
        publisher = DirectoryPublisher(out)
        publisher.publish(make_event(2))
        publisher.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert len(modes) == 3 and set(modes.values()) == {0o640}, modes


KILLED_WRITER = """
import os, signal, sys
from edge.publish.directory import DirectoryPublisher
from tests.helpers import make_event
publisher = DirectoryPublisher(sys.argv[1])
event = make_event(3)
publisher.publish(event)
print(event.event_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # right after publish returned: the writer may not have run
"""


def test_an_event_published_before_a_kill_is_complete_after_the_restart(tmp_path):
    out = tmp_path / "events"
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    event_id = result.stdout.split()[0]
    DirectoryPublisher(out).close()  # the next start
    metadata = json.loads((out / f"{event_id}.json").read_text())
    for name, described in metadata["images"].items():
        data = (out / f"{event_id}_{name}.jpg").read_bytes()
        assert hashlib.sha256(data).hexdigest() == described["sha256"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{event_id}.json", f"{event_id}_mugshot.jpg", f"{event_id}_crop.jpg"]), "no temporary file left"


def test_an_event_killed_between_its_image_renames_and_its_json_rename_is_completed(tmp_path, monkeypatch):
    """The kill can fall after the writer renamed the images and before the JSON: the images are then at their
    final names, not temporary ones, and the next start still completes the event."""
    import edge.publish.directory as directory

    out = tmp_path / "events"
    commit = directory.commit_file

    def images_only(tmp, path):  # the process dies here: the JSON's rename never happens
        if path.suffix == ".json":
            raise OSError("killed")
        commit(tmp, path)

    monkeypatch.setattr(directory, "commit_file", images_only)
    publisher = DirectoryPublisher(out)
    event = make_event(6)
    publisher.publish(event)
    publisher.close()
    assert not (out / f"{event.event_id}.json").exists() and (out / f"{event.event_id}_mugshot.jpg").exists()
    monkeypatch.setattr(directory, "commit_file", commit)
    DirectoryPublisher(out).close()  # the next start
    metadata = json.loads((out / f"{event.event_id}.json").read_text())
    assert metadata["event_id"] == event.event_id
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{event.event_id}.json", f"{event.event_id}_mugshot.jpg", f"{event.event_id}_crop.jpg"])


def test_an_event_the_folder_cannot_take_is_counted_not_raised(tmp_path):
    import shutil

    out = tmp_path / "events"
    publisher = DirectoryPublisher(out)
    shutil.rmtree(out)  # the folder is gone (an unmounted card)
    publisher.publish(make_event(4))
    assert publisher.status()["failed"] == 1
    out.mkdir()
    publisher.publish(make_event(5))
    publisher.close()
    assert publisher.status() == {"written": 1, "failed": 1}
