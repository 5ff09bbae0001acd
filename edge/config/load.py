"""Reading a TOML file into the typed :class:`~edge.config.schema.Config`, then checking it once."""
from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from .checks import check_config
from .schema import (GENERATOR_NAMES, PUBLISHER_TYPES, RETIRED_GENERATORS, RETIRED_KEYS, Config, ConfigError,
                     DirectoryPublisherConfig)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raises ConfigError naming the bad key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {path}") from None
    except OSError as exc:  # permission denied, a folder, an I/O error: one line, exit 78
        raise ConfigError("", f"config file {path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"config file {path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(raw, base_dir=path.parent)


def config_from_dict(raw: dict[str, Any], base_dir: Path | None = None) -> Config:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    values: dict[str, Any] = {}
    for name, data in raw.items():
        if name not in sections:
            raise ConfigError(name, f"unknown section (known: {', '.join(sections)})")
        if name == "publishers":
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise ConfigError(name, "expected an array of tables ([[publishers]])")
            values[name] = tuple(_publisher(d, f"publishers[{i}]") for i, d in enumerate(data))
        else:
            if not isinstance(data, dict):
                raise ConfigError(name, "expected a table")
            values[name] = _section(typing.get_type_hints(Config)[name], data, name)
    config = _resolve_paths(Config(**values), base_dir or Path.cwd())
    check_config(config)
    return config


def _resolve_paths(c: Config, base_dir: Path) -> Config:
    """Relative paths in a config file are relative to that file's folder."""
    def resolve(value: str) -> str:
        return str((base_dir / value).expanduser()) if value else value

    camera = c.camera
    if camera.type == "images" or ("://" not in camera.uri and not camera.uri.isdigit()):
        camera = dataclasses.replace(camera, uri=resolve(camera.uri))
    generator = c.generator
    if generator.model not in GENERATOR_NAMES and generator.model not in RETIRED_GENERATORS:  # those: checks
        generator = dataclasses.replace(generator, model=resolve(generator.model))
    generator = dataclasses.replace(generator, int8_model=resolve(generator.int8_model))
    calibration = dataclasses.replace(c.calibration, path=resolve(c.calibration.path))
    publishers = []
    for p in c.publishers:
        if isinstance(p, DirectoryPublisherConfig):
            p = dataclasses.replace(p, path=resolve(p.path))
        else:
            p = dataclasses.replace(p, ca_file=resolve(p.ca_file), cert_file=resolve(p.cert_file),
                                    key_file=resolve(p.key_file), password_file=resolve(p.password_file),
                                    spool_path=resolve(p.spool_path))
        publishers.append(p)
    return dataclasses.replace(
        c, camera=camera, generator=generator, publishers=tuple(publishers), calibration=calibration,
        detector=dataclasses.replace(c.detector, model=resolve(c.detector.model),
                                     int8_model=resolve(c.detector.int8_model)))


def _publisher(data: dict[str, Any], prefix: str) -> Any:
    kind = data.get("type", "directory")
    if kind not in PUBLISHER_TYPES:
        raise ConfigError(f"{prefix}.type", f"must be one of {', '.join(map(repr, PUBLISHER_TYPES))}, got {kind!r}")
    return _section(PUBLISHER_TYPES[kind], data, prefix)


def _section(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if f"{prefix}.{key}" in RETIRED_KEYS:
            raise ConfigError(f"{prefix}.{key}", RETIRED_KEYS[f"{prefix}.{key}"])
        if key not in known:
            raise ConfigError(f"{prefix}.{key}", f"unknown key (known: {', '.join(sorted(known))})")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}.{key}")
    return cls(**kwargs)


def _coerce(expected: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(expected)
    if origin is Literal:
        choices = typing.get_args(expected)
        if value not in choices:
            raise ConfigError(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {type(value).__name__} {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {type(value).__name__} {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}")
        return float(value)
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {type(value).__name__} {value!r}")
        return value
    if expected is list or origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"expected an array, got {type(value).__name__}")
        return value
    if isinstance(expected, types.UnionType):  # pragma: no cover - not used by the sections yet
        return value
    raise ConfigError(key, f"unsupported type {expected}")
