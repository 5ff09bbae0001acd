"""Peak memory of the daemon on one huge picture, with the frame-size bound and without it.

    PYTHONPATH=$PWD .venv/bin/python tests/bench_big_frame.py [--side 20000]

Writes a SIDExSIDE PNG (streamed, so this script stays small) and a SIDExSIDE JPEG into
scratch folders, replays each through the daemon (``mugshot-edge replay``) once with the
default ``camera.max_pixels`` and once with the bound lifted (``max_pixels = 400000000``: the
old behaviour, the whole picture decoded), and prints each run's peak resident memory
(the child's ``ru_maxrss``) side by side, with a baseline folder of one VGA picture.
"""
from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_png(path: Path, side: int) -> None:
    """A grey SIDExSIDE RGB PNG written row by row (never the whole picture in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        compressor, row = zlib.compressobj(9), b"\x00" + bytes([128]) * (3 * side)
        data = b""
        for _ in range(side):
            data += compressor.compress(row)
            if len(data) > 1 << 20:
                f.write(chunk(b"IDAT", data))
                data = b""
        f.write(chunk(b"IDAT", data + compressor.flush()) + chunk(b"IEND", b""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bigframe-") as tmp:
        work = Path(tmp)
        folders = {}
        for kind in ("vga", "png", "jpeg"):
            folders[kind] = work / kind
            folders[kind].mkdir()
        cv2.imwrite(str(folders["vga"] / "0.jpg"), np.full((480, 640, 3), 128, np.uint8))
        write_png(folders["png"] / "0.png", args.side)
        big = np.full((args.side, args.side, 3), 128, np.uint8)
        cv2.imwrite(str(folders["jpeg"] / "0.jpg"), big)
        del big
        print("| picture | camera.max_pixels | peak RSS (MB) | exit | what the log says |")
        print("|---|---|---|---|---|")
        for kind, limit in (("vga", None), ("png", None), ("png", 400_000_000), ("jpeg", None),
                            ("jpeg", 400_000_000)):
            peak, code, log = run(folders[kind], work, limit)
            said = next((line.split(": ", 1)[-1][:90] for line in log.splitlines() if "max_pixels" in line), "")
            name = "640x480 JPEG" if kind == "vga" else f"{args.side}x{args.side} {kind.upper()}"
            print(f"| {name} | {'default (24000000)' if limit is None else limit} | {peak:.0f} | {code} | {said} |")


def run(folder: Path, work: Path, max_pixels: int | None) -> tuple[float, int, str]:
    config = work / f"config-{max_pixels}.toml"
    config.write_text("" if max_pixels is None else f"[camera]\nmax_pixels = {max_pixels}\n")
    return peak_memory([sys.executable, "-m", "edge", "replay", str(folder), "--out",
                        str(work / f"out-{folder.name}-{max_pixels}"), "--config", str(config)], work / "log.txt")


def peak_memory(cmd: list[str], log_path: Path) -> tuple[float, int, str]:
    """Run a command; its peak resident memory in MB (VmHWM of its own address space, read until it
    exits: ru_maxrss would carry the forking parent's high-water mark), exit code and stderr."""
    peak = 0
    with open(log_path, "w+") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
                                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
        try:
            while process.poll() is None:
                try:
                    status = Path(f"/proc/{process.pid}/status").read_text()
                    peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
                except (OSError, IndexError, ValueError):
                    pass
                time.sleep(0.02)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        text = log.read()
    return peak / 1024, process.returncode, text


if __name__ == "__main__":
    main()
