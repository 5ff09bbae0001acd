import pytest

from edge.cli import EXIT_CONFIG, main
from edge.config import Config, ConfigError, config_from_dict, load_config


def test_defaults_are_valid():
    cfg = config_from_dict({})
    assert isinstance(cfg, Config)
    assert cfg.detector.type == "yunet" and cfg.publishers[0].type == "directory"


@pytest.mark.parametrize("raw, key, words", [
    ({"motion": {"treshold": 3}}, "motion.treshold", "unknown key"),
    ({"motoin": {}}, "motoin", "unknown section"),
    ({"motion": {"threshold": "high"}}, "motion.threshold", "expected an integer"),
    ({"motion": {"enabled": 1}}, "motion.enabled", "true or false"),
    ({"motion": {"threshold": 300}}, "motion.threshold", "between 1 and 254"),
    ({"motion": {"masks": [[[0, 0], [1, 1]]]}}, "motion.masks[0]", "at least 3"),
    ({"detector": {"input_width": 300}}, "detector.input_width", "multiple of 32"),
    ({"detector": {"model": "no/such/model.onnx"}}, "detector.model", "file not found"),
    ({"detector": {"region": "roi"}}, "detector.region", "must be one of"),
    ({"generator": {"model": "missing.onnx"}}, "generator.model", "file not found"),
    ({"generator": {"output_size": 20000}}, "generator.output_size", "between 64 and 1024"),
    ({"generator": {"crop_without_mesh": "yes"}}, "generator.crop_without_mesh", "true or false"),
    ({"mesh": {"enabled": False}}, "generator.crop_without_mesh", "no face has a mesh"),
    ({"camera": {"type": "images", "uri": "no-such-folder"}}, "camera.uri", "folder not found"),
    ({"camera": {"uri": "clip-that-is-not-there.mp4"}}, "camera.uri", "not a device index"),
    ({"publishers": [{"type": "directory", "jpeg_quality": 0}]}, "publishers[0].jpeg_quality", "between 1 and 100"),
    ({"device": {"id": "a/b"}}, "device.id", "without '/'"),
])
def test_errors_name_the_key(raw, key, words, tmp_path):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, base_dir=tmp_path)
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ") and words in str(err.value)
    assert "\n" not in str(err.value)


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "frames").mkdir()
    path = tmp_path / "config.toml"
    path.write_text('[camera]\ntype = "images"\nuri = "frames"\n[[publishers]]\ntype = "directory"\npath = "out"\n')
    cfg = load_config(path)
    assert cfg.camera.uri == str(tmp_path / "frames")
    assert cfg.publishers[0].path == str(tmp_path / "out")


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[motion\nthreshold = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_run_with_bad_config_exits_78_and_starts_nothing(tmp_path, capsys):
    out = tmp_path / "events"
    path = tmp_path / "config.toml"
    path.write_text(f'[motion]\nthreshold = "x"\n[[publishers]]\ntype = "directory"\npath = "{out}"\n')
    assert main(["run", "--config", str(path)]) == EXIT_CONFIG
    assert "motion.threshold: expected an integer" in capsys.readouterr().err
    assert not out.exists()


def test_example_config_lists_every_key_with_its_default():
    import dataclasses
    import tomllib

    from edge.config import DirectoryPublisherConfig, MqttPublisherConfig
    from tests.conftest import ROOT

    example = ROOT / "systemd" / "config.example.toml"
    raw = tomllib.loads(example.read_text())
    defaults = Config()
    documented_sections = [(name, getattr(defaults, name), raw[name]) for name in
                           ("camera", "motion", "detector", "tracker", "generator", "calibration", "log")]
    documented_sections += [("publishers[0]", DirectoryPublisherConfig(), raw["publishers"][0]),
                            ("publishers[1]", MqttPublisherConfig(), raw["publishers"][1])]
    for name, instance, documented in documented_sections:
        for f in dataclasses.fields(instance):
            assert f.name in documented, f"{name}.{f.name} missing from {example.name}"
            assert documented[f.name] == getattr(instance, f.name), f"{name}.{f.name} default differs"
    raw["camera"]["uri"] = "0"
    config_from_dict(raw, base_dir=example.parent)


def test_a_config_that_still_sets_the_retired_max_yaw_gets_one_line_saying_what_replaces_it(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('[generator]\nmodel = "none"\nmax_yaw = 30.0\n')
    assert main(["run", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "generator.max_yaw: retired" in err and "generator.crop_without_mesh" in err and "unknown key" not in err
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"generator": {"max_yaw": 90.0}})
    assert caught.value.key == "generator.max_yaw"


def test_without_the_mesh_the_generator_runs_on_every_face_only_when_asked():
    cfg = config_from_dict({"mesh": {"enabled": False}, "generator": {"crop_without_mesh": False}})
    assert not cfg.mesh.enabled and not cfg.generator.crop_without_mesh
    assert config_from_dict({"mesh": {"enabled": False}, "generator": {"model": "none"}}).generator.model == "none"
