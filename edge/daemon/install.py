"""Install or remove mugshot-edge as a systemd service on a camera box.

    sudo python3 -m edge.daemon.install [--dry-run] [--prefix /opt/mugshot-edge] ...
    sudo python3 -m edge.daemon.install --uninstall

Run from a checkout of the project (it installs that checkout).  Standard library only,
so it works before any dependency is installed.  Steps: a virtualenv in the prefix
(``--system-site-packages`` on a Raspberry Pi, so the OS's picamera2 is visible), the
package into it (on a Pi with the ``pi`` extra: a simplejpeg that works with the venv's numpy 2), a commented default config in /etc/mugshot-edge/config.toml (an
existing one is never overwritten), the unit, then ``systemctl enable --now``.
Uninstalling removes the unit and the virtualenv but keeps the config and the spool.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

SERVICE = "mugshot-edge"
CHECKOUT = Path(__file__).resolve().parents[2]
UNIT_SOURCE = CHECKOUT / "systemd" / f"{SERVICE}.service"
CONFIG_SOURCE = CHECKOUT / "systemd" / "config.example.toml"
DEFAULT_EXEC = "/opt/mugshot-edge/venv/bin/mugshot-edge"


@dataclass
class Step:
    description: str
    action: Callable[[], None] | None = None  # None: nothing to do (said only)
    skipped: bool = False  # would run on a live system, not under --root


def is_raspberry_pi() -> bool:
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="ignore")
    except OSError:
        return False


def _run(*cmd: str) -> Callable[[], None]:
    return lambda: subprocess.run(cmd, check=True)


def _write(path: Path, text: str, mode: int = 0o644) -> Callable[[], None]:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    return write


def resolve_group(group: str) -> int | None:
    """The gid of a group name or number; None if no such group exists (yet)."""
    if group.isdigit():
        return int(group)
    import grp
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _share_with_group(paths: list[tuple[Path, int]], group: str) -> Callable[[], None]:
    """root:<group> with the given modes: the service's dynamic user reads them through the group."""
    def share() -> None:
        gid = resolve_group(group)
        if gid is None:
            raise OSError(f"group {group} does not exist")
        for path, mode in paths:
            os.chown(path, 0, gid)
            path.chmod(mode)
    return share


def unit_text(exec_path: str) -> str:
    text = UNIT_SOURCE.read_text()
    return text.replace(DEFAULT_EXEC, exec_path)


def default_config(pi: bool) -> str:
    """The commented example config, set up for a service: events under the state directory."""
    text = CONFIG_SOURCE.read_text()
    text = re.sub(r'^path = "mugshots".*$', 'path = "/var/lib/mugshot-edge/events"  # under StateDirectory',
                  text, count=1, flags=re.M)
    if pi:
        text = re.sub(r'^type = "opencv" ', 'type = "picamera2"', text, count=1, flags=re.M)
    return text


BOX_EXTRAS = "tflite"  # LiteRT: the face mesh runs about 2x faster than on onnxruntime (models/face_mesh.md)


def install_steps(args: argparse.Namespace) -> list[Step]:
    root, prefix = Path(args.root), Path(args.prefix)
    venv = prefix / "venv"
    target_venv = root / venv.relative_to("/")
    pi = args.pi if args.pi is not None else is_raspberry_pi()
    config = root / "etc" / SERVICE / "config.toml"
    unit = root / "etc" / "systemd" / "system" / f"{SERVICE}.service"
    live = root == Path("/")
    venv_cmd = [sys.executable, "-m", "venv", *(["--system-site-packages"] if pi or args.system_site_packages else []),
                str(target_venv)]
    pip_cmd = [str(target_venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
               *(["--no-deps"] if args.no_deps else []), f"{CHECKOUT}[{BOX_EXTRAS},pi]" if pi else f"{CHECKOUT}[{BOX_EXTRAS}]"]
    steps = [
        Step(f"create virtualenv: {shlex.join(venv_cmd)}", _run(*venv_cmd)),
        Step(f"install the package: {shlex.join(pip_cmd)}", _run(*pip_cmd)),
        Step(f"copy README to {root / prefix.relative_to('/') / 'README.md'}",
             _write(root / prefix.relative_to("/") / "README.md", (CHECKOUT / "README.md").read_text())),
    ]
    group = args.group
    steps.append(Step(f"create the system group {group} (groupadd --system {group})",
                      _run("groupadd", "--system", group) if live and resolve_group(group) is None else None,
                      skipped=not live))
    if config.exists():
        steps.append(Step(f"keep the existing config {config}"))
    else:
        steps.append(Step(f"write the default config {config} (camera {'picamera2' if pi else 'opencv'})",
                          _write(config, default_config(pi), 0o640)))
    shared = [(config.parent, 0o750), (config, 0o640)]
    shared += [(p, 0o640) for p in sorted(config.parent.iterdir()) if p.is_file() and p != config] \
        if config.parent.is_dir() else []
    sharing = f"let the service read its config: {config.parent} root:{group} 0750, its files 0640"
    if live or resolve_group(group) is not None:
        steps.append(Step(sharing, _share_with_group(shared, group)))
    else:
        steps.append(Step(f"{sharing} (no group {group} under --root: pass --group GID)", None, skipped=True))
    steps.append(Step(f"install the unit {unit} (ExecStart {venv / 'bin' / SERVICE})",
                      _write(unit, unit_text(str(venv / "bin" / SERVICE)))))
    for cmd in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", SERVICE]):
        steps.append(Step(shlex.join(cmd), _run(*cmd) if live else None, skipped=not live))
    return steps


def uninstall_steps(args: argparse.Namespace) -> list[Step]:
    root, prefix = Path(args.root), Path(args.prefix)
    unit = root / "etc" / "systemd" / "system" / f"{SERVICE}.service"
    live = root == Path("/")
    steps = []
    steps.append(Step(f"systemctl disable --now {SERVICE}",
                      (lambda: subprocess.run(["systemctl", "disable", "--now", SERVICE], check=False)) if live else None,
                      skipped=not live))
    steps.append(Step(f"remove the unit {unit}", lambda: unit.unlink(missing_ok=True)))
    steps.append(Step("systemctl daemon-reload", _run("systemctl", "daemon-reload") if live else None,
                      skipped=not live))
    target = root / prefix.relative_to("/")
    steps.append(Step(f"remove {target}", lambda: shutil.rmtree(target, ignore_errors=True)))
    steps.append(Step(f"keep the config in {root / 'etc' / SERVICE} and the spool in "
                      f"{root / 'var/lib' / SERVICE} (remove them by hand if wanted)"))
    return steps


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mugshot-edge install-service", description=__doc__.splitlines()[0])
    parser.add_argument("--uninstall", action="store_true", help="remove the service (keeps config and spool)")
    parser.add_argument("--dry-run", action="store_true", help="print every step, change nothing")
    parser.add_argument("--prefix", default="/opt/mugshot-edge", help="where the virtualenv goes")
    parser.add_argument("--root", default="/", help="install into this folder as if it were / (no systemctl)")
    parser.add_argument("--pi", dest="pi", action="store_true", default=None,
                        help="Raspberry Pi: picamera2 config and --system-site-packages (default: detected)")
    parser.add_argument("--not-pi", dest="pi", action="store_false")
    parser.add_argument("--system-site-packages", action="store_true",
                        help="let the virtualenv see the OS's Python packages (e.g. python3-opencv)")
    parser.add_argument("--group", default=SERVICE,
                        help="the group (name or gid) whose members may read /etc/mugshot-edge (the unit's "
                             "SupplementaryGroups=); created if missing")
    parser.add_argument("--no-deps", action="store_true",
                        help="install only this package; its dependencies come from the OS packages")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path(args.prefix).is_absolute() or not Path(args.root).is_absolute():
        print("--prefix and --root must be absolute paths", file=sys.stderr)
        return 64
    if not UNIT_SOURCE.is_file() or not CONFIG_SOURCE.is_file():
        print(f"run this from a checkout of the project: {UNIT_SOURCE} not found", file=sys.stderr)
        return 69
    steps = uninstall_steps(args) if args.uninstall else install_steps(args)
    if not args.dry_run and Path(args.root) == Path("/") and os.geteuid() != 0:
        print("installing a system service needs root: run it with sudo (or try --dry-run)", file=sys.stderr)
        return 77
    for number, step in enumerate(steps, 1):
        print(f"[{number}/{len(steps)}] {'(dry run) ' if args.dry_run and step.action else ''}"
              f"{step.description}{' (skipped under --root)' if step.skipped else ''}")
        if not args.dry_run and step.action is not None:
            try:
                step.action()
            except (OSError, subprocess.CalledProcessError) as exc:
                print(f"step {number} failed: {exc}", file=sys.stderr)
                return 1
    if not args.uninstall:
        print(f"next: edit /etc/{SERVICE}/config.toml, then `sudo systemctl reload {SERVICE}`; "
              f"watch with `systemctl status {SERVICE}` and `journalctl -u {SERVICE} -f`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
