"""A Debian 12 arm64 user space made of Debian's own packages, and qemu-aarch64-static to run it.

Nothing here needs root privileges, a daemon, a chroot or kernel-wide state:

- a private apt (its own sources, lists, status and archives under the cache folder; the host's apt is
  not touched) resolves and downloads the arm64 packages with all their dependencies;
- ``dpkg-deb -x`` unpacks them into ``<cache>/sysroot``;
- qemu-user-static (the amd64 Debian package, from the same private apt) is unpacked, never installed,
  and invoked explicitly as ``qemu-aarch64-static -cpu cortex-a72 -L <sysroot> <program>``: no binfmt
  handler is registered and ``binfmt_misc`` is never mounted. Programs started that way cannot start
  further arm64 programs by themselves, so pip runs in-process from Debian's pip wheel.

One shim: qemu 7.2 shows the *host's* ``/proc/cpuinfo`` to the guest, and onnxruntime's CPU detection
(pytorch/cpuinfo) crashes on an x86 cpuinfo under an arm64 kernel ABI. qemu's ``-L`` looks a file up in the
sysroot first, so ``<sysroot>/proc/cpuinfo`` carries the text a Raspberry Pi 4's kernel prints (Cortex-A72,
part 0xd08), one block per host CPU, matching ``-cpu cortex-a72``.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CACHE = Path(os.environ.get("MUGSHOT_ARM64_CACHE", "~/.cache/mugshot-arm64")).expanduser()
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITE = "bookworm"  # Debian 12, what Raspberry Pi OS bookworm is built on
# python3.11-venv brings ensurepip's pip wheel; libgomp1 is the OpenMP runtime some wheels link against
PACKAGES = ("python3.11", "python3.11-venv", "libstdc++6", "libgomp1")
CPU = "cortex-a72"  # Raspberry Pi 4 (a Pi 5 is cortex-a76)
CPUINFO_BLOCK = ("processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
                 "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
                 "CPU revision\t: 3\n\n")


def host_mirrors() -> tuple[str, str]:
    """The Debian and Debian-security mirrors this machine's apt uses (the ones it can reach)."""
    text = ""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and path.suffix in ("", ".list", ".sources") and "disabled" not in path.name:
            text += path.read_text() + "\n"
    uris = re.findall(r"^\s*(?:URIs:|deb(?:\s+\[[^\]]*\])?)\s+(\S+)", text, re.M)
    main = next((u for u in uris if re.search(r"/debian/?$", u)), "http://deb.debian.org/debian")
    security = next((u for u in uris if re.search(r"/debian-security/?$", u)), "http://deb.debian.org/debian-security")
    return main.rstrip("/"), security.rstrip("/")


class PrivateApt:
    """apt-get with its own configuration under ``root``: arm64 (plus amd64 for qemu) Debian 12."""

    def __init__(self, root: Path):
        self.root = root
        main, security = host_mirrors()
        for sub in ("lists/partial", "archives/partial", "etc/apt.conf.d", "etc/preferences.d",
                    "etc/sources.list.d", "cache"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "status").touch()
        opts = f"[arch=arm64,amd64 signed-by={KEYRING}]"
        (root / "etc" / "sources.list").write_text(
            f"deb {opts} {main} {SUITE} main\ndeb {opts} {main} {SUITE}-updates main\n"
            f"deb {opts} {security} {SUITE}-security main\n")
        settings = {"APT::Architecture": "arm64", "Dir::Etc": root / "etc",
                    "Dir::Etc::SourceList": root / "etc" / "sources.list",
                    "Dir::Etc::SourceParts": root / "etc" / "sources.list.d",
                    "Dir::Etc::Parts": root / "etc" / "apt.conf.d",
                    "Dir::Etc::Preferences": root / "etc" / "preferences",
                    "Dir::Etc::PreferencesParts": root / "etc" / "preferences.d",
                    "Dir::State": root, "Dir::State::Lists": root / "lists", "Dir::State::status": root / "status",
                    "Dir::Cache": root / "cache", "Dir::Cache::Archives": root / "archives",
                    "APT::Install-Recommends": "false", "APT::Sandbox::User": "root" if os.getuid() == 0 else ""}
        lines = [f'{key} "{value}";' for key, value in settings.items() if value != ""]
        lines.append('APT::Architectures { "arm64"; "amd64"; };')
        (root / "apt.conf").write_text("\n".join(lines) + "\n")
        self.env = {**os.environ, "APT_CONFIG": str(root / "apt.conf"), "DEBIAN_FRONTEND": "noninteractive"}

    def run(self, *args: str, cwd: Path | None = None) -> str:
        proc = subprocess.run(["apt-get", "-q", *args], env=self.env, cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"apt-get {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return proc.stdout

    def update(self) -> None:
        self.run("update")

    def download_closure(self, packages: tuple[str, ...]) -> list[Path]:
        """The packages and everything they depend on (the status file is empty: nothing counts as installed)."""
        for old in (self.root / "archives").glob("*.deb"):
            old.unlink()
        self.run("install", "--download-only", "--yes", *packages)
        return sorted((self.root / "archives").glob("*.deb"))

    def download(self, package: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        self.run("download", package, cwd=dest)
        name = package.split(":")[0]
        return max(dest.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime)


@dataclass(frozen=True)
class Emulator:
    qemu: Path
    sysroot: Path
    cpu: str = CPU

    def argv(self, program: str | Path, *args: str) -> list[str]:
        return [str(self.qemu), "-cpu", self.cpu, "-L", str(self.sysroot), str(program), *args]

    @property
    def python(self) -> Path:
        return self.sysroot / "usr" / "bin" / "python3.11"


def _cpuinfo(sysroot: Path) -> None:
    present = Path("/sys/devices/system/cpu/present").read_text().strip()
    count = max(int(part.split("-")[-1]) for part in present.split(",")) + 1
    (sysroot / "proc").mkdir(exist_ok=True)
    (sysroot / "proc" / "cpuinfo").write_text("".join(CPUINFO_BLOCK.format(i=i) for i in range(count))
                                              + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B\n")


def build(cache: Path = CACHE, packages: tuple[str, ...] = PACKAGES, cpu: str = CPU) -> Emulator:
    """Download and unpack the arm64 user space and qemu (again only when the package list changed)."""
    apt = PrivateApt(cache / "apt")
    sysroot, stamp = cache / "sysroot", cache / "sysroot.packages"
    qemu = cache / "qemu" / "usr" / "bin" / "qemu-aarch64-static"
    wanted = " ".join(packages)
    if not (stamp.is_file() and stamp.read_text() == wanted and qemu.is_file()):
        log.info("private apt update (%s)", ", ".join(host_mirrors()))
        apt.update()
        debs = apt.download_closure(packages)
        log.info("unpacking %d arm64 packages into %s", len(debs), sysroot)
        shutil.rmtree(sysroot, ignore_errors=True)
        sysroot.mkdir(parents=True)
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(sysroot)], check=True)
        qemu_deb = apt.download("qemu-user-static:amd64", cache / "host-debs")
        shutil.rmtree(cache / "qemu", ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(qemu_deb), str(cache / "qemu")], check=True)
        (cache / "sysroot.debs").write_text("".join(f"{d.name}\n" for d in debs) + f"{qemu_deb.name}\n")
        stamp.write_text(wanted)
    _cpuinfo(sysroot)
    return Emulator(qemu, sysroot, cpu)
