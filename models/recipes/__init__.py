"""Recipes that rebuild shipped model files from pinned registry packages (workstation only)."""

import hashlib
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
