"""Every number has a range, names that become topics are checked, and a config that cannot be
read is one line with exit 78; a missing model or clip is 69, as the README says."""
import dataclasses
import typing

import pytest

from edge.cli import EXIT_CONFIG, EXIT_UNAVAILABLE, main
from edge.config import RANGES, Config, ConfigError, DirectoryPublisherConfig, MqttPublisherConfig, config_from_dict


@pytest.mark.parametrize("name", ["front#door", "front+door", "front/door", "front\0door", "", "tab\there",
                                  "x" * 65])
def test_camera_name_is_checked_like_a_topic_level(name):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"camera": {"name": name}})
    assert err.value.key == "camera.name" and "\n" not in str(err.value)


def test_device_id_rejects_nul_too():
    with pytest.raises(ConfigError, match="device.id"):
        config_from_dict({"device": {"id": "box\0one"}})


def numeric_fields(cls):
    hints = typing.get_type_hints(cls)
    return [f.name for f in dataclasses.fields(cls) if hints[f.name] in (int, float)]


def test_every_number_in_every_section_has_a_range():
    sections = [typing.get_type_hints(Config)[f.name] for f in dataclasses.fields(Config) if f.name != "publishers"]
    for cls in sections + [DirectoryPublisherConfig, MqttPublisherConfig]:
        assert set(numeric_fields(cls)) <= set(RANGES.get(cls, {})), f"{cls.__name__} has an unbounded number"


def section_cases():
    names = {typing.get_type_hints(Config)[f.name]: f.name for f in dataclasses.fields(Config)
             if f.name != "publishers"}
    for cls, ranges in RANGES.items():
        for field, (low, high) in ranges.items():
            kind = typing.get_type_hints(cls)[field]
            too_big = kind(high * 2 + 1)
            if cls in names:
                yield {names[cls]: {field: too_big}}, f"{names[cls]}.{field}"
            else:
                kind_name = "directory" if cls is DirectoryPublisherConfig else "mqtt"
                yield {"publishers": [{"type": kind_name, field: too_big}]}, f"publishers[0].{field}"


@pytest.mark.parametrize("raw, key", list(section_cases()))
def test_a_number_beyond_its_range_is_refused_naming_the_key(raw, key):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert err.value.key == key, str(err.value)


@pytest.mark.parametrize("line, key", [("[detector]\ninput_width = 32000", "detector.input_width"),
                                       ("[detector]\nthreads = 100000", "detector.threads"),
                                       ("[motion]\ndilate = 1000000000", "motion.dilate"),
                                       ("[tracker]\nmin_hits = 9223372036854775807", "tracker.min_hits"),
                                       ("[motion]\nalpha = nan", "motion.alpha"),
                                       ("[tracker]\nmax_missed_seconds = inf", "tracker.max_missed_seconds")])
def test_the_values_that_crashed_the_daemon_exit_78_naming_the_key(tmp_path, capsys, line, key):
    path = tmp_path / "config.toml"
    path.write_text(line + "\n")
    assert main(["run", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert f"{key}: " in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("kind", ["folder", "not-utf8"])
def test_a_config_that_cannot_be_read_is_one_line_and_exit_78(tmp_path, capsys, kind):
    path = tmp_path / "config.toml"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"[device]\nid = \"\xff\xfe\"\n")
    assert main(["run", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert str(path) in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_a_missing_clip_exits_69_and_a_missing_model_file_78_as_the_readme_says(tmp_path, capsys):
    from tests.conftest import ROOT

    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "| 69 | unavailable: a camera, clip or picture folder that is missing or empty, a model that will not " \
        "load or fails its sha256 |" in readme
    assert "| 78 | bad configuration: the one line says which key, file or model |" in readme
    path = tmp_path / "config.toml"
    path.write_text('[detector]\nmodel = "no-such-model.onnx"\n')
    assert main(["run", "--config", str(path)]) == EXIT_CONFIG
    assert "detector.model: file not found" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "no-such-clip.mp4"), "--out", str(tmp_path / "out")]) == EXIT_UNAVAILABLE
    assert "clip: not found" in capsys.readouterr().err
    path.write_text(f'[camera]\ntype = "images"\nuri = "{tmp_path / "no-such-folder"}"\n')
    assert main(["run", "--config", str(path)]) == EXIT_UNAVAILABLE
