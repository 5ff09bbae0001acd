"""``mugshot-edge``: run the daemon, replay a clip, make mugshots of photos, check a config, or run the demo.

The only place that maps failures to exit codes (the README's table): 0 clean stop, 78 bad configuration,
69 camera, clip, picture folder or model missing or unusable (an empty folder too), 66 a photo given to
``mugshot`` that does not exist, 65 one that is not a readable image, 1 anything else.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .config import Config, ConfigError, DirectoryPublisherConfig, MissingInputError, load_config
from .vision.model_files import ModelError
from .sources.base import SourceError
from .sources.images import IMAGE_SUFFIXES

log = logging.getLogger("edge")

EXIT_OK, EXIT_FAILURE, EXIT_UNAVAILABLE, EXIT_CONFIG = 0, 1, 69, 78
EXIT_DATAERR, EXIT_NOINPUT = 65, 66  # sysexits.h: a photo that is not a readable image; one that does not exist


def setup_logging(level: str = "info") -> None:
    # No timestamps: journald adds its own.
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s",
                        force=True)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _replay_config(clip: Path, out: Path, base: Config | None, camera_name: str) -> Config:
    base = base or Config()
    camera = dataclasses.replace(base.camera, type="images" if clip.is_dir() else "opencv", uri=str(clip),
                                 name=camera_name, pace="fast", on_end="stop")
    directory = next((p for p in base.publishers if isinstance(p, DirectoryPublisherConfig)),
                     DirectoryPublisherConfig())
    others = tuple(p for p in base.publishers if not isinstance(p, DirectoryPublisherConfig))
    return dataclasses.replace(base, camera=camera,
                               publishers=(dataclasses.replace(directory, path=str(out)),) + others)


def cmd_run(args: argparse.Namespace) -> int:
    from .daemon.service import Daemon

    daemon = Daemon(args.config)  # a bad config raises here: exit 78, nothing started
    setup_logging(daemon.config.log.level)
    daemon.install_signal_handlers()
    stats = daemon.run()
    log.info("stopped: %s", stats.summary())
    from .sources.resilient import reader_stuck

    if reader_stuck():  # a thread inside a camera driver: interpreter teardown under it would abort
        log.warning("a camera read is still in progress: exiting without interpreter teardown")
        logging.shutdown()
        os._exit(EXIT_OK)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from .tools.contact_sheet import make_contact_sheet
    from .daemon.pipeline import build_pipeline

    clip, out = Path(args.clip), Path(args.out)
    if not clip.exists():
        raise MissingInputError("clip", f"not found: {clip}")
    if clip.is_dir() and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in clip.iterdir()):
        raise MissingInputError("clip", f"no pictures in folder {clip} ({', '.join(sorted(IMAGE_SUFFIXES))})")
    base = load_config(args.config) if args.config else None
    cfg = _replay_config(clip, out, base, args.camera or clip.stem)
    stop = threading.Event()
    _stop_on_signals(stop)
    pipeline = build_pipeline(cfg, stop)
    try:
        stats = pipeline.run()
    finally:
        pipeline.close()
    shown = make_contact_sheet(out, out / "contact_sheet.jpg")
    print(f"replay {clip.name}: {stats.summary()}")
    print(f"{stats.events} events in {out}, contact sheet with {shown}: {out / 'contact_sheet.jpg'}")
    return EXIT_OK


def cmd_mugshot(args: argparse.Namespace) -> int:
    from .tools.stills import run_stills

    cfg = load_config(args.config) if args.config else Config()
    out = Path(args.out)
    result = run_stills([Path(p) for p in args.photos], out, cfg)
    for line in result.skipped:
        print(line)
    print(f"{len(result.done)} of {len(args.photos)} photos -> {out} (<name>_mugshot.jpg, <name>_crop.jpg, "
          "<name>.json)")
    if result.missing:
        return EXIT_NOINPUT
    if result.unreadable:
        return EXIT_DATAERR
    return EXIT_OK if result.done or not args.photos else EXIT_FAILURE


def cmd_check(args: argparse.Namespace) -> int:
    """Config, writable folders, models, camera, and whether each broker answers (a warning, not a
    failure); no publisher is started, so a running daemon's MQTT session (its client id) is left alone."""
    from .daemon.pipeline import build_models
    from .sources import make_source

    cfg = load_config(args.config)
    for key, folder in writable_folders(cfg):
        check_writable(key, folder)
    detector, generator, mesher = build_models(cfg)
    print(f"config {args.config}: ok")
    print(f"detector: {detector.name} {detector.version} ({detector.precision}) sha256 {detector.sha256[:12]}")
    rule = "faces without a face mesh get the crop" if cfg.generator.crop_without_mesh else "runs on every face"
    print(f"generator: {generator.describe()}; published at {cfg.generator.output_size} px (never downsampled); "
          f"{rule}")
    print(f"face mesh: {mesher.describe() if mesher is not None else 'off (mesh.enabled = false): 5-point pose only'}")
    source = make_source(cfg.camera)
    source.open()
    try:
        frame = source.read()
        if frame is None:
            raise SourceError(f"camera {cfg.camera.name}: opened but delivered no frame")
        image = frame.full()
        print(f"camera {cfg.camera.name}: first frame {image.shape[1]}x{image.shape[0]}")
        frame.release()
    finally:
        source.close()
    for i, pub in enumerate(cfg.publishers):
        if pub.type == "mqtt":
            print(f"publishers[{i}]: {probe_broker(pub, f'publishers[{i}]')}")
    return EXIT_OK


def writable_folders(cfg: Config) -> list[tuple[str, Path]]:
    """(config key, folder) for every folder the daemon writes to."""
    from .publish.mqtt import default_spool_path
    from .daemon.sequence import default_state_dir

    folders = [("STATE_DIRECTORY", default_state_dir())]
    for i, pub in enumerate(cfg.publishers):
        if isinstance(pub, DirectoryPublisherConfig):
            folders.append((f"publishers[{i}].path", Path(pub.path)))
        else:
            folders.append((f"publishers[{i}].spool_path", Path(pub.spool_path or default_spool_path()).parent))
    if cfg.calibration.save_frames and cfg.calibration.path:
        folders.append(("calibration.path", Path(cfg.calibration.path)))
    return folders


def check_writable(key: str, folder: Path) -> None:
    """A real write into the folder, or into the nearest folder above it that exists (run creates the rest)."""
    import tempfile

    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(key, f"cannot create {folder}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ConfigError(key, f"{folder} is not writable ({existing}: {exc.strerror or exc})") from None


def probe_broker(pub, key: str, timeout: float = 5.0) -> str:
    """Whether the broker answers, with its own client id (a running daemon's session is left alone)."""
    import os

    from .publish.mqtt_connection import ConnectionSettings, MqttConnection, read_password

    settings = ConnectionSettings(host=pub.host, port=pub.port, protocol=pub.protocol,
                                  client_id=f"mugshot-check-{os.getpid()}", keepalive=pub.keepalive, tls=pub.tls,
                                  ca_file=pub.ca_file, cert_file=pub.cert_file, key_file=pub.key_file,
                                  username=pub.username, password=read_password(pub.password_file, pub.password_env,
                                                                                key), reconnect_max=timeout)
    connection = MqttConnection(settings)
    connection.start()
    try:
        if connection.connected.wait(timeout):
            return f"broker {settings.address} answered (MQTT {settings.protocol})"
        return f"broker {settings.address} did not answer within {timeout:g} s: " \
               f"{connection.last_error or 'no reply'} (the daemon keeps trying; events wait in the spool)"
    finally:
        connection.stop()


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate a clip and replay it; events go to a folder and, over MQTT, through a local
    broker to a receiver's gallery, as they would from a real camera box."""
    from .tools.demo import run_demo

    run_demo(Path(args.out))
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from .tools.bench import bench_motion_vs_detector, format_report, load_frames, precision_report

    frames = load_frames(args.clip, count=args.frames)
    print(format_report(bench_motion_vs_detector(frames, rounds=args.rounds)))
    print(precision_report(args.int8_detector))
    return EXIT_OK


def cmd_bench_face(args: argparse.Namespace) -> int:
    from .tools.bench import load_frames
    from .vision.face3d.bench import bench_face, format_face_report

    frames = load_frames(args.clip, count=args.frames)
    print(format_face_report(bench_face(frames, rounds=args.rounds, generator=args.generator,
                                        output_size=args.output_size)))
    return EXIT_OK


def cmd_bench_detect(args: argparse.Namespace) -> int:
    from .tools.bench_detect import main as bench_detect_main

    return bench_detect_main(Path(args.frmdb) if args.frmdb else None, Path(args.json) if args.json else None,
                             args.min_face, args.score)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mugshot-edge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the camera daemon")
    run.add_argument("--config", required=True, help="TOML configuration file")
    run.set_defaults(func=cmd_run)
    replay = sub.add_parser("replay", help="run the pipeline over a video file or image folder")
    replay.add_argument("clip", help="video file or folder of images")
    replay.add_argument("--out", required=True, help="folder for events and the contact sheet")
    replay.add_argument("--config", help="TOML configuration for the stages (camera and publishers are replaced)")
    replay.add_argument("--camera", help="camera name in the events (default: the clip's name)")
    replay.set_defaults(func=cmd_replay)
    mugshot = sub.add_parser(
        "mugshot", help="what the box would publish for still photos (same code as events)",
        description="Each photo gives OUT/<name>_mugshot.jpg, <name>_crop.jpg and <name>.json (which records the "
                    "photo's path as source_path). <name> is the photo's stem; photos that share a stem are told "
                    "apart by their folder, <parent>_<stem> (dir1/Img_33.jpg -> dir1_Img_33), so none overwrites "
                    "another. Exit codes: 0 done, 66 a photo does not exist, 65 a photo is not a readable image, "
                    "1 no photo had a face; the other photos are still done.")
    mugshot.add_argument("photos", nargs="+", metavar="PHOTO")
    mugshot.add_argument("--out", required=True,
                         help="folder for <name>_mugshot.jpg, <name>_crop.jpg, <name>.json (<name>: the photo's stem, "
                              "or <parent>_<stem> where photos share a stem)")
    mugshot.add_argument("--config", help="TOML configuration (generator, mesh, detector, tracker sections)")
    mugshot.set_defaults(func=cmd_mugshot)
    check = sub.add_parser("check", help="validate config, models and camera, then exit")
    check.add_argument("--config", required=True)
    check.set_defaults(func=cmd_check)
    demo = sub.add_parser("demo", help="generate a sample clip and replay it through the whole pipeline")
    demo.add_argument("--out", default="demo-out")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("install-service", help="install as a systemd service (see install-service --help)",
                   add_help=False)
    bench = sub.add_parser("bench", help="cost of the motion gate against always running the detector")
    bench.add_argument("--clip", help="video to take 640x480 frames from (default: the generated demo clip)")
    bench.add_argument("--frames", type=int, default=120)
    bench.add_argument("--rounds", type=int, default=7)
    bench.add_argument("--int8-detector", help="INT8 YuNet (default: <cache>/yunet_int8.onnx)")
    bench.set_defaults(func=cmd_bench)
    bench_face = sub.add_parser("bench-face", help="face mesh, pose and generator per face against the frame cost")
    bench_face.add_argument("--clip", help="video with a face (default: the generated demo clip)")
    bench_face.add_argument("--frames", type=int, default=40)
    bench_face.add_argument("--rounds", type=int, default=5)
    bench_face.add_argument("--generator", default="auto",
                            help="ONNX generator to time in the mugshot path (default: the shipped student)")
    bench_face.add_argument("--output-size", type=int, default=256, help="generator.output_size to upsample to")
    bench_face.set_defaults(func=cmd_bench_face)
    bench_detect = sub.add_parser("bench-detect", help="small faces: detector recall and false detections on "
                                  "FRMDB's surveillance frames, against OpenCV's own YuNet")
    bench_detect.add_argument("--frmdb", help="FRMDB folder (default: ../shared/data/frmdb beside the project)")
    bench_detect.add_argument("--json", help="write every measured row here")
    bench_detect.add_argument("--min-face", type=int, default=16, help="min_face of the score-threshold table")
    bench_detect.add_argument("--score", type=float, default=0.6, help="score threshold of the min_face table")
    bench_detect.set_defaults(func=cmd_bench_detect)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["install-service"]:  # stdlib-only installer with its own options
        from .daemon.install import main as install_main
        return install_main(argv[1:])
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return args.func(args)
    except MissingInputError as exc:  # a camera or clip that is not there: 69, as the README says
        log.error("%s", exc)
        return EXIT_UNAVAILABLE
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return EXIT_CONFIG
    except (SourceError, ModelError) as exc:
        log.error("%s", exc)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:
        log.exception("unexpected failure")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
