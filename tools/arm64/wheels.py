"""Does every package the camera box installs have an aarch64 wheel for CPython 3.11?

The box (Raspberry Pi OS bookworm, i.e. Debian 12 arm64 with Python 3.11 and glibc 2.36) installs the
runtime dependencies of ``pyproject.toml`` plus the ``tflite`` and ``pi`` extras; nothing there may need a
compiler.
pip resolves them for that platform without installing anything (``--dry-run --report`` with
``--platform``/``--python-version``/``--abi``/``--implementation`` and ``--only-binary=:all:``); pure-Python
wheels count. Two resolutions:

- *today*: the requirements as written, what ``pip install`` on a fresh box picks now;
- *tested*: the same requirements constrained to the versions installed in this interpreter, i.e. the
  versions the test suite ran with here. Those must exist for aarch64 too.

A package without a wheel makes the check fail with its name. ``python -m tools.arm64.wheels`` prints both.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOX_EXTRAS = ("tflite", "pi")  # extras a box installs too; the trainer's, eval's and the tests' stay off
PYTHON_VERSION = "3.11"  # Raspberry Pi OS bookworm's python3
GLIBC = (2, 36)  # Debian 12 bookworm (Raspberry Pi OS); Ubuntu 22.04 (JetPack 6) has 2.35


class WheelsMissing(Exception):
    """Some requirement has no wheel for the target; ``names`` are the packages pip could not find."""

    def __init__(self, names: list[str], detail: str, target: "Target | None" = None):
        self.names, self.detail = names, detail
        what = ", ".join(names) if names else "the requirements"
        super().__init__(f"no wheel ({target or BOX}) for {what}: {detail}")


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    filename: str

    @property
    def platforms(self) -> list[str]:
        return self.filename.removesuffix(".whl").split("-")[-1].split(".")

    @property
    def pure(self) -> bool:
        return self.platforms == ["any"]

    @property
    def glibc(self) -> tuple[int, int] | None:
        """The oldest glibc this wheel runs on (None: pure Python)."""
        found = []
        for tag in self.platforms:
            if tag.startswith("manylinux2014"):
                found.append((2, 17))
            elif m := re.match(r"manylinux_(\d+)_(\d+)_", tag):
                found.append((int(m[1]), int(m[2])))
        return min(found) if found else None


def platform_tags(glibc: tuple[int, int] = GLIBC) -> list[str]:
    return ["manylinux2014_aarch64"] + [f"manylinux_2_{minor}_aarch64" for minor in range(17, glibc[1] + 1)]


@dataclass(frozen=True)
class Target:
    python: str = PYTHON_VERSION
    glibc: tuple[int, int] = GLIBC

    def __str__(self) -> str:
        return f"aarch64, CPython {self.python}, manylinux up to glibc {self.glibc[0]}.{self.glibc[1]}"


BOX = Target()


def target_options(target: Target = BOX) -> list[str]:
    options = ["--only-binary=:all:", "--python-version", target.python, "--implementation", "cp",
               "--abi", "cp" + target.python.replace(".", "")]
    for tag in platform_tags(target.glibc):
        options += ["--platform", tag]
    return options


def box_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(req for extra in BOX_EXTRAS for req in extras[extra])]


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0]


def tested_versions(names) -> dict[str, str]:
    """The versions of ``names`` installed in this interpreter (those the tests ran with)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def _pip(python: str, args: list[str], cache_dir: Path | None) -> subprocess.CompletedProcess:
    cache = ["--cache-dir", str(cache_dir)] if cache_dir else []
    return subprocess.run([python, "-m", "pip", *args, "--disable-pip-version-check", *cache],
                          capture_output=True, text=True)


def _failure(stderr: str, target: Target = BOX) -> WheelsMissing:
    names = [requirement_name(found) for found in re.findall(r"No matching distribution found for (\S+)", stderr)]
    lines = [line for line in stderr.splitlines() if line.startswith("ERROR")] or stderr.strip().splitlines()[-1:]
    return WheelsMissing(sorted(set(names)), lines[-1] if lines else "pip failed", target)


def resolve(requirements: list[str], *, constraints: dict[str, str] | None = None, cache_dir: Path | None = None,
            python: str = sys.executable, target: Target = BOX) -> list[Wheel]:
    """The wheels pip would install for the target, with dependencies; nothing is installed."""
    with tempfile.TemporaryDirectory(prefix="arm64-wheels-") as tmp:
        report = Path(tmp) / "report.json"
        args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                "--target", str(Path(tmp) / "target"), *target_options(target)]
        if constraints:
            pins = Path(tmp) / "constraints.txt"
            pins.write_text("".join(f"{name}=={version}\n" for name, version in sorted(constraints.items())))
            args += ["--constraint", str(pins)]
        proc = _pip(python, [*args, *requirements], cache_dir)
        if proc.returncode != 0:
            raise _failure(proc.stderr, target)
        items = json.loads(report.read_text())["install"]
    return [Wheel(item["metadata"]["name"], item["metadata"]["version"],
                  item["download_info"]["url"].rsplit("/", 1)[-1]) for item in items]


def check(requirements: list[str], *, constraints: dict[str, str] | None = None, cache_dir: Path | None = None,
          python: str = sys.executable, target: Target = BOX) -> list[Wheel]:
    """``resolve``, but when it fails every requirement is tried alone, so that all packages without a
    wheel are named, not only the first pip stumbled on."""
    try:
        return resolve(requirements, constraints=constraints, cache_dir=cache_dir, python=python, target=target)
    except WheelsMissing as first:
        names: set[str] = set()
        for requirement in requirements:
            try:
                resolve([requirement], constraints=constraints, cache_dir=cache_dir, python=python, target=target)
            except WheelsMissing as alone:
                names.update(alone.names or [requirement_name(requirement)])
        raise WheelsMissing(sorted(names) or first.names, first.detail, target) from None


def box_wheels(cache_dir: Path | None = None, target: Target = BOX) -> tuple[list[Wheel], list[Wheel]]:
    """(today, tested): the box's wheels as pip resolves them now, and at the versions tested here."""
    requirements = box_requirements()
    today = check(requirements, cache_dir=cache_dir, target=target)
    tested = check(requirements, constraints=tested_versions(w.name for w in today), cache_dir=cache_dir,
                   target=target)
    return today, tested


def download(wheels: list[Wheel], dest: Path, *, cache_dir: Path | None = None) -> None:
    """Fetch exactly these aarch64 wheels into ``dest`` (a wheelhouse for an offline install)."""
    dest.mkdir(parents=True, exist_ok=True)
    pins = [f"{w.name}=={w.version}" for w in wheels]
    proc = _pip(sys.executable, ["download", "--quiet", "--no-deps", "--dest", str(dest), *target_options(), *pins],
                cache_dir)
    if proc.returncode != 0:
        raise _failure(proc.stderr)


def describe(today: list[Wheel], tested: list[Wheel]) -> str:
    latest = {w.name: w.version for w in today}
    lines = [f"{'package':24} {'tested here':14} {'pip today':14} {'glibc':6} wheel"]
    for w in sorted(tested, key=lambda w: w.name.lower()):
        glibc = "any" if w.glibc is None else f"{w.glibc[0]}.{w.glibc[1]}"
        lines.append(f"{w.name:24} {w.version:14} {latest.get(w.name, '-'):14} {glibc:6} {w.filename}")
    needs = [w.glibc for w in tested if w.glibc]
    if needs:
        top = max(needs)
        lines.append(f"newest glibc needed: {top[0]}.{top[1]} "
                     f"({', '.join(w.name for w in tested if w.glibc == top)})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.arm64.wheels", description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, help="pip's cache (default: pip's own)")
    parser.add_argument("--python-version", default=PYTHON_VERSION, help="default %(default)s (Pi OS bookworm)")
    parser.add_argument("--glibc", default="%d.%d" % GLIBC, help="newest manylinux glibc, default %(default)s")
    args = parser.parse_args(argv)
    major, minor = (int(v) for v in args.glibc.split("."))
    target = Target(args.python_version, (major, minor))
    try:
        today, tested = box_wheels(args.cache_dir, target)
    except WheelsMissing as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{target}:")
    print(describe(today, tested))
    return 0


if __name__ == "__main__":
    sys.exit(main())
