import pytest

from edge.align import ModelInputSpec
from trainer.prepare import frmdb_source, prepare

# Two held-out identities (see trainer/split.toml) and two training ones.
SUBJECTS = {"001", "006", "002", "003"}


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("cache") / "pairs.npz"
    result = prepare([frmdb_source(shared_data / "frmdb", SUBJECTS)], ModelInputSpec(size=32), out)
    assert result["pairs"] > 40
    return out, result
