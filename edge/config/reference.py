"""The configuration reference (docs/configuration.md), generated from the schema itself.

``python -m edge.config.reference`` prints the key tables; tests/unit/test_docs_config.py checks that the
docs page carries exactly this text, so every key, default and range in the docs is the schema's.  The
"what it does" column is the comment beside (or just above) the field in ``edge/config/schema.py``.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import sys

from . import schema
from .checks import RANGES

BEGIN = "<!-- BEGIN GENERATED: python -m edge.config.reference -->"
END = "<!-- END GENERATED -->"

SECTIONS = [("[device]", schema.DeviceConfig), ("[camera]", schema.CameraConfig), ("[motion]", schema.MotionConfig),
            ("[detector]", schema.DetectorConfig), ("[tracker]", schema.TrackerConfig),
            ("[generator]", schema.GeneratorConfig), ("[mesh]", schema.MeshConfig),
            ('[[publishers]] type = "directory"', schema.DirectoryPublisherConfig),
            ('[[publishers]] type = "mqtt"', schema.MqttPublisherConfig),
            ("[calibration]", schema.CalibrationConfig), ("[log]", schema.LogConfig)]


def _comments(cls: type) -> dict[str, str]:
    """Field name -> its comment in the schema's source (inline, else the comment lines just above)."""
    lines, _ = inspect.getsourcelines(cls)
    source = "".join(lines)
    tree = ast.parse(inspect.cleandoc("\n" + source) if source[:1].isspace() else source)
    out: dict[str, str] = {}
    for node in tree.body[0].body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        line = lines[node.lineno - 1]
        text = line.split("  # ", 1)[1].strip() if "  # " in line else ""
        above = []
        i = node.lineno - 2
        while i >= 0 and lines[i].strip().startswith("#"):
            above.insert(0, lines[i].strip()[1:].strip())
            i -= 1
        out[node.target.id] = " ".join(p for p in (" ".join(above), text) if p)
    return out


def _default(f: dataclasses.Field) -> str:
    if f.name == "id" and f.default_factory is not dataclasses.MISSING:
        return "the host name"
    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if isinstance(value, bool):
        return "`" + str(value).lower() + "`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`".replace("(", "[").replace(")", "]") if isinstance(value, tuple) else f"`{value!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    parts = [BEGIN, ""]
    for name, cls in SECTIONS:
        ranges = RANGES.get(cls, {})
        notes = _comments(cls)
        parts += [f"### `{name}`", "", "| key | default | range / values | what it does |", "|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            hint = str(f.type)
            if f.name in ranges:
                low, high = ranges[f.name]
                allowed = f"{low:g} – {high:g}"
            elif hint.startswith("Literal["):
                allowed = ", ".join(f"`{v.strip()}`" for v in hint[8:-1].split(","))
            else:
                allowed = hint
            parts.append(f"| `{f.name}` | {_cell(_default(f))} | {_cell(allowed)} | {_cell(notes.get(f.name, ''))} |")
        parts.append("")
    retired = [f"- `{key}`: {why}" for key, why in schema.RETIRED_KEYS.items()]
    retired += [f'- `generator.model = "{name}"`: {why}' for name, why in schema.RETIRED_GENERATORS.items()]
    parts += ["### Retired keys and values (refused with this line)", "", *retired, "", END]
    return "\n".join(parts) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
