"""Training configuration helpers: TOML values and ``--set key=value`` overrides as a dataclass's typed fields
(``restore_fit.RestoreConfig``).  An unknown key, in the file or on the command line, is an error that names it.
"""
from __future__ import annotations

import dataclasses
from typing import Any


class TrainConfigError(ValueError):
    pass


def _coerce(key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
        if isinstance(value, bool):
            return value
    elif kind is int and not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    elif kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif kind is str:
        return str(value)
    raise TrainConfigError(f"{key}: expected {kind.__name__}, got {value!r}")


def coerce_fields(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` (TOML values or --set strings) as the dataclass ``cls``'s typed fields; an unknown key is an error."""
    kinds = {f.name: f.type for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in kinds:
            raise TrainConfigError(f"{key}: unknown key (known: {', '.join(sorted(kinds))})")
        if kinds[key] == "tuple[str, ...]":  # a TOML list, or "a,b,c" on the command line
            parts = value.split(",") if isinstance(value, str) else value
            if not isinstance(parts, (list, tuple)) or not all(isinstance(v, str) for v in parts):
                raise TrainConfigError(f"{key}: expected a list of names, got {value!r}")
            values[key] = tuple(v.strip() for v in parts if v.strip())
            continue
        kind = {"str": str, "int": int, "float": float, "bool": bool}[kinds[key]]
        values[key] = _coerce(key, value, kind)
    return values


def generator_choice(value: str, **defaults: Any):
    """``MODEL[,KEY=VALUE...]`` (eval --tracks --generator, rate --source NAME=...): a ``generator.model`` and
    other ``[generator]`` settings to run it with, e.g. ``auto,crop_without_mesh=false``, as the box's
    ``GeneratorConfig``.  Values are read as TOML values where they are one (``false``, ``320``, ``"x"``), else as
    text (``plain``, ``#e0e0e0``), and checked by the box's own config loader (``defaults``: settings the
    command gives unless the choice does); a bad key or value is an error naming ``generator.KEY``."""
    import tomllib

    from edge.config import ConfigError, config_from_dict

    model, *options = [part.strip() for part in value.split(",")]
    raw: dict[str, Any] = dict(defaults)
    for option in options:
        key, sep, setting = (part.strip() for part in option.partition("="))
        if not sep or not key or key == "model":
            raise TrainConfigError(f"generator option {option!r}: expected KEY=VALUE of a [generator] setting")
        try:
            raw[key] = tomllib.loads(f"v = {setting}")["v"]
        except tomllib.TOMLDecodeError:
            raw[key] = setting
    try:
        return config_from_dict({"camera": {"type": "images", "uri": "."}, "generator": {**raw, "model": model},
                                 "publishers": [{"type": "directory", "path": "unused"}]}).generator
    except ConfigError as exc:
        raise TrainConfigError(str(exc)) from None
