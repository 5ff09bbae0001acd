"""The README's first command block, literally, in a fresh venv in a fresh copy of the project.

A newcomer's first minute: `python3 -m venv .venv && .venv/bin/pip install -e '.[demo]' && .venv/bin/mugshot-edge
demo --out runs/demo`.  The copy holds what a clone holds (git's tracked and unignored files), the venv is new
(pip's download cache is reused, as on any machine that installed anything before), and the demo must leave
its events, contact sheet and received gallery under runs/demo.  `bash tests/run.sh`, the block's second line,
is this test suite itself."""
import os
import shutil
import subprocess
import time

import pytest

from .readme_blocks import ROOT, bash_blocks

pytestmark = pytest.mark.integration


def _fresh_copy(dest):
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True)
    if listing.returncode != 0:  # not a git checkout (an unpacked archive): what .gitignore would leave out
        shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(
            ".venv", "runs", "__pycache__", "*.egg-info", ".pytest_cache", "demo-out", "build", "test-artifacts"))
        return dest
    listed = listing.stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def test_readme_first_block_works_in_a_fresh_venv(tmp_path):
    first = bash_blocks()[0]
    assert first[0].startswith("python3 -m venv .venv && ") and "mugshot-edge demo --out runs/demo" in first[0]
    assert first[1:] == ["bash tests/run.sh"]
    project = _fresh_copy(tmp_path / "mugshot-edge")
    assert not (project / ".venv").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    started = time.monotonic()
    run = subprocess.run(["bash", "-c", first[0]], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    print(f"README first command: {seconds:.0f} s")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    demo = project / "runs" / "demo"
    assert len(list((demo / "events").glob("*_mugshot.jpg"))) == 2, output[-2000:]
    assert (demo / "contact_sheet.jpg").stat().st_size > 10_000
    assert (demo / "received" / "index.html").is_file()
    assert "2 of 2 events arrived over MQTT" in output
    for noise in ("Package would be ignored", "FutureWarning", "Traceback"):
        assert noise not in output, f"{noise!r} in the README's first command's output"
    # the venv is the project's own, not the one running this test
    assert (project / ".venv" / "bin" / "mugshot-edge").is_file()
