"""The quantizer's 7-channel refiner, built by the trainer for the test run."""
import pytest

from edge.vision.align import ModelInputSpec


@pytest.fixture(scope="session")
def mesher():
    from edge.vision.face3d import make_mesher
    return make_mesher()


@pytest.fixture(scope="session")
def tiny_refiner(tmp_path_factory, shared_data, mesher):
    """A 32 px blend-head refiner student, trained for a few steps on a geometry cache of two FRMDB people
    (001 held out by trainer/split.toml) and exported by the trainer: (its checkpoint, its ONNX file)."""
    from trainer.config import load_train_config
    from trainer.export import export
    from trainer.fit import fit
    from trainer.prepare import frmdb_source, prepare

    folder = tmp_path_factory.mktemp("refiner")
    cache = folder / "pairs.npz"
    result = prepare([frmdb_source(shared_data / "frmdb", {"001", "002"})], ModelInputSpec(size=32), cache,
                     geometry=True, rotate_yaws=(), mesher=mesher)
    assert result["meshes"] > 0
    common = [f"cache={cache}", "inputs=crop,frontal,visibility", "head=blend", "steps=6", "batch_size=4",
              "threads=1", "lr=0.005", "sample_every=6", "checkpoint_every=6"]
    teacher = fit(load_train_config(None, common + ["width=4", f"out={folder / 't'}"]), progress=False)
    student = fit(load_train_config(None, common + ["model=student", "width=8", f"teacher={teacher}",
                                                    f"out={folder / 's'}"]), progress=False)
    path = folder / "refiner.onnx"
    export(student, path, name="refiner-student")
    return student, path
