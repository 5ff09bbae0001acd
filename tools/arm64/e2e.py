"""The camera box on arm64, under emulation, against the same run on this x86 machine.

    .venv/bin/python -m tools.arm64.e2e            # a few minutes; everything lives in ~/.cache/mugshot-arm64

1. ``sysroot.build``: Debian 12 arm64 packages (python3.11 and its libraries) unpacked into a sysroot,
   and qemu-aarch64-static unpacked beside it (``tools/arm64/sysroot.py``).
2. ``wheels``: the box's requirements resolved for aarch64 CPython 3.11 at the versions installed here,
   downloaded into a wheelhouse; this checkout built into a wheel.
3. Two virtualenvs made by the arm64 python (``--system-site-packages``, as the installer does on a Pi):
   ``pip install mugshot-edge[tflite,pi]`` and, for a box without the optional ``tflite`` extra,
   ``mugshot-edge[pi]``, from the wheelhouse, pip itself running under qemu; every module the box loads
   must import (and ``ai_edge_litert`` must not, in the second).
4. The same ``mugshot-edge`` commands with the arm64 interpreter (under qemu) and with this one (x86):
   ``replay`` of ``single_face.mp4``, of its frames as PNG files (the same pixels on both sides), and of
   a few still photos (``replay`` of an image folder); ``mugshot`` of the same photos with the default
   generator, and that again with ``mesh.runtime = "onnxruntime"`` in the virtualenv without ``tflite``
   (add a case to ``cases()`` for new commands). Then ``probe.py`` on both: per-frame detections and mesh
   poses, the generators on the same landmarks, both mesh runtimes on the same network input.
5. The comparison (``compare.py``, tolerances there) as a table. Exit code 0 when every row holds.

Emulated run times say nothing about a Pi's speed and are not reported.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2

from . import compare, sysroot, wheels

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
CLIP = DATA / "video" / "single_face.mp4"
PHOTOS = ("frmdb/original/009/009_Mugshots/Img_33.JPG",  # studio frontal
          "frmdb/original/009/009_Mugshots/Img_43.JPG",  # studio, camera 45 degrees to the side
          "frmdb/original/021/021.jpg",  # 1920x1080 portrait
          "frmdb/original/021/021_Frames/Img_03.jpg",  # 352x288 surveillance frame, a small blurred face
          "pointing04/Person04/person04146+0+0.jpg")  # frontal, other lab
PINNED = '[detector]\nprecision = "fp32"\n[generator]\nprecision = "fp32"\n'  # "auto" would time them: emulation is slow
# one event per photo: no motion gate, the whole frame searched, every detection a track of its own
PHOTO_CONFIG = PINNED.replace('[detector]\n', '[detector]\nregion = "full"\n') + (
    "[motion]\nenabled = false\n[tracker]\nmin_hits = 1\niou_threshold = 1.0\nmax_missed_seconds = 0.05\n")


ONNX_MESH = PINNED + '[mesh]\nruntime = "onnxruntime"\n'

# every module the box loads (picamera2 itself is Raspberry Pi OS's, not Debian's: not in the sysroot)
IMPORTS = ("import numpy, cv2, onnxruntime, onnx, paho.mqtt.client, ai_edge_litert.interpreter, simplejpeg, edge.cli, "
           "edge.vision.face3d; print('ok, numpy', numpy.__version__)")
NO_TFLITE_IMPORTS = ("import importlib.util, numpy, cv2, onnxruntime, paho.mqtt.client, simplejpeg, edge.cli, "
                     "edge.vision.face3d; "
                     "assert importlib.util.find_spec('ai_edge_litert') is None, 'ai_edge_litert is installed'; "
                     "print('ok, no ai_edge_litert')")
# arm64 virtualenvs: name -> the extras installed with mugshot-edge
VENVS = {"venv": wheels.BOX_EXTRAS, "venv-no-tflite": tuple(e for e in wheels.BOX_EXTRAS if e != "tflite")}


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]  # mugshot-edge arguments; "{out}" becomes the case's output folder
    output: str = "events"  # "events": replay's <event_id>.json and JPEGs; "stills": mugshot's <photo>.json ...
    same_pixels: bool = True  # both sides decode the input to the same pixels (photos, PNG): tighter mesh pose
    venv: str = "venv"  # the arm64 virtualenv (VENVS) it runs in
    mesh_runtime: str | None = None  # the mesh runtime both sides' events must name


def _config(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def cases(run: Path, clip: Path, photos: list[Path]) -> list[Case]:
    frames = run / "clip_frames"
    frames.mkdir()
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    while (frame := capture.read())[0]:
        cv2.imwrite(str(frames / f"{index:05d}.png"), frame[1])
        index += 1
    capture.release()
    folder = run / "photos"
    folder.mkdir()
    for i, photo in enumerate(photos):
        shutil.copy(photo, folder / f"{i}_{photo.name}")
    clip_cfg = _config(run / "clip.toml", PINNED)
    frames_cfg = _config(run / "frames.toml", PINNED.replace("[detector]", f"[camera]\nfps = {fps}\n[detector]"))
    photo_cfg = _config(run / "photos.toml", PHOTO_CONFIG)
    stills = [str(p) for p in sorted(folder.iterdir())]

    def mugshot(name: str, text: str, **kw) -> Case:
        cfg = _config(run / f"{name.replace(' ', '_').replace(',', '')}.toml", text)
        return Case(name, ["mugshot", *stills, "--out", "{out}", "--config", cfg], output="stills", **kw)

    return [Case("clip", ["replay", str(clip), "--out", "{out}", "--config", clip_cfg], same_pixels=False),
            Case("clip as PNG frames", ["replay", str(frames), "--out", "{out}", "--config", frames_cfg]),
            Case("photos", ["replay", str(folder), "--out", "{out}", "--config", photo_cfg]),
            mugshot("mugshot", PINNED, mesh_runtime="litert"),
            mugshot("mugshot, no tflite extra", ONNX_MESH, venv="venv-no-tflite", mesh_runtime="onnxruntime")]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _run(argv: list[str], log_file: Path, cwd: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as out:
        proc = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=_clean_env())
    if proc.returncode != 0:
        tail = log_file.read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:8])} ... failed ({proc.returncode}), {log_file}: {tail}")


def install(emu: sysroot.Emulator, cache: Path) -> dict[str, Path]:
    """The box's wheels for aarch64 and this checkout's wheel, pip-installed by the arm64 python into each
    of ``VENVS``; their pythons."""
    _, tested = wheels.box_wheels(cache / "pip")
    house, project = cache / "wheelhouse", cache / "project"
    for folder in (house, project, *(cache / name for name in VENVS)):
        shutil.rmtree(folder, ignore_errors=True)
    wheels.download(tested, house, cache_dir=cache / "pip")
    source = cache / "source"  # a copy, so that the build leaves no build/ folder in the checkout
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                                ".pytest_cache", "runs", "demo-out"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(project),
                    str(source)], check=True, capture_output=True)
    pip = next((emu.sysroot / "usr" / "share" / "python-wheels").glob("pip-*.whl")) / "pip"
    for name, extras in VENVS.items():
        venv = cache / name
        _run(emu.argv(emu.python, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)),
             cache / f"{name}.log", cache)
        _run(emu.argv(venv / "bin" / "python", str(pip), "install", "--no-index", "--find-links", str(house),
                      "--find-links", str(project), f"mugshot-edge[{','.join(extras)}]"),
             cache / f"pip-install-{name}.log", cache)
        log.info("installed mugshot-edge[%s] (from %d aarch64 wheels) into %s", ",".join(extras), len(tested), venv)
    return {name: cache / name / "bin" / "python" for name in VENVS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.arm64.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=sysroot.CACHE, help="sysroot, wheels, runs (default %(default)s)")
    parser.add_argument("--cpu", default=sysroot.CPU, help="qemu CPU model (default %(default)s, a Pi 4; cortex-a76: Pi 5)")
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--photos", type=Path, nargs="+", default=[DATA / p for p in PHOTOS])
    parser.add_argument("--reuse-venv", action="store_true", help="skip step 3 when the arm64 venvs exist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cache = args.cache.resolve()
    if ROOT in cache.parents or cache == ROOT:
        parser.error(f"--cache {cache} is inside the repository")

    emu = sysroot.build(cache, cpu=args.cpu)
    pythons = {name: cache / name / "bin" / "python" for name in VENVS}
    if not (args.reuse_venv and all(p.exists() for p in pythons.values())):
        pythons = install(emu, cache)
    run = cache / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    arm = {name: emu.argv(python) for name, python in pythons.items()}
    interpreters = {"x86": [sys.executable], "arm64": arm["venv"]}
    rows = []
    for name, code, what in (("venv", IMPORTS, "every module the box loads imports (IMPORTS)"),
                             ("venv-no-tflite", NO_TFLITE_IMPORTS, "the box's modules import, LiteRT does not")):
        imported = subprocess.run([*arm[name], "-c", code], capture_output=True, text=True, cwd=run)
        said = imported.stdout.strip() or (imported.stderr.strip().splitlines() or ["nothing"])[-1]
        rows.append(compare.Row(f"arm64 {name}", what, said[:24], "all import", imported.returncode == 0))
    for case in cases(run, args.clip, args.photos):
        outs = {}
        for arch, python in (("x86", [sys.executable]), ("arm64", arm[case.venv])):
            outs[arch] = run / arch / case.name.replace(" ", "_").replace(",", "")
            tail = [a.replace("{out}", str(outs[arch])) for a in case.args]
            log.info("%s: mugshot-edge %s", arch, " ".join(tail))
            _run([*python, "-m", "edge", *tail], outs[arch].with_suffix(".log"), run)
        limit = compare.MESH_POSE_DEG_PHOTO if case.same_pixels else compare.MESH_POSE_DEG_CLIP
        if case.output == "events":
            rows += compare.compare_events(case.name, outs["x86"], outs["arm64"], limit)
        elif case.output == "stills":
            rows += compare.compare_stills(case.name, outs["x86"], outs["arm64"], case.mesh_runtime)
    probe = str(Path(__file__).with_name("probe.py"))
    probe_args = ["--clip", str(args.clip), "--photos", *map(str, args.photos)]
    _run([sys.executable, probe, *probe_args, "--out", str(run / "x86" / "probe")], run / "x86" / "probe.log", run)
    _run([*interpreters["arm64"], probe, *probe_args, "--reference", str(run / "x86" / "probe"),
          "--out", str(run / "arm64" / "probe")], run / "arm64" / "probe.log", run)
    rows += compare.compare_probes(run / "x86" / "probe", run / "arm64" / "probe")
    rows += compare.pose_sensitivity(run / "x86" / "probe", args.photos)

    version = subprocess.run(emu.argv(emu.python, "-c", "import platform,sys; print(platform.machine(), sys.version)"),
                             capture_output=True, text=True).stdout.strip()
    debs = (cache / "sysroot.debs").read_text().split()
    print(f"\narm64: Debian 12 sysroot of {len(debs) - 1} arm64 packages ({emu.sysroot}), qemu-aarch64-static "
          f"-cpu {emu.cpu} ({debs[-1]}); python {version}")
    print(f"x86: {sys.executable} ({sys.version.split()[0]}); outputs in {run}\n")
    print(compare.table(rows))
    checks = [r for r in rows if not r.info]
    failed = [r for r in checks if not r.ok]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks within tolerance"
          + (f"; outside: {', '.join(f'{r.case}: {r.what}' for r in failed)}" if failed else ""))
    print("(run times under emulation are not a measure of speed on a Pi and are not reported)")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
