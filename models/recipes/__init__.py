"""Recipes that rebuild shipped model files from pinned registry packages (workstation only)."""

import argparse
import hashlib
import sys
from pathlib import Path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_or_check(files: dict[str, bytes], out: Path, check: bool) -> int:
    """Write a recipe's outputs into ``out``, or (``check``) compare them byte for byte with what is there;
    one line per file; 1 when any differs."""
    differ = 0
    for name, data in files.items():
        target = out / name
        if check:
            same = target.is_file() and target.read_bytes() == data
            differ += not same
            print(f"{name}: {'identical' if same else 'DIFFERS'} ({len(data)} B, sha256 {sha256(data)})")
        else:
            target.write_bytes(data)
            print(f"{name}: {len(data)} B, sha256 {sha256(data)}")
    return 1 if differ else 0


def run_recipe(module: str, label: str, doc: str, build, argv: list[str] | None, errors: tuple) -> int:
    """A recipe's command line: ``--out`` (default models/), ``--cache``, ``--check``; ``build(cache)`` gives
    the files; any of ``errors`` is one line on stderr and exit 1."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "mugshot-recipes")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    args = parser.parse_args(argv)
    try:
        files = build(args.cache)
    except errors as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return 1
    return write_or_check(files, args.out, args.check)
