"""The README's command blocks, read from the README itself, so the tests run what a newcomer copies."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bash_blocks(section: str | None = None) -> list[list[str]]:
    """Every ```bash block (of the ``## section`` when given), as its command lines: comments and blank lines
    dropped, backslash continuations joined."""
    text = (ROOT / "README.md").read_text()
    if section is not None:
        start = text.index(f"\n## {section}\n")
        end = text.find("\n## ", start + 1)
        text = text[start:end if end > 0 else None]
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", text, re.S):
        lines, joined = [], ""
        for line in body.splitlines():
            joined += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
            if line.endswith("\\"):
                continue
            stripped = joined.strip()
            joined = ""
            if stripped and not stripped.startswith("#"):
                lines.append(stripped)
        blocks.append(lines)
    return blocks
