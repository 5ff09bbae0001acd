import subprocess
import sys

# Runs in a fresh interpreter with an import hook that records any attempt to import
# torch, so the test fails whether or not torch happens to be installed.
CODE = """
import sys
attempts = []
class RecordTorch:
    def find_spec(self, name, path=None, target=None):
        if name == 'torch' or name.startswith('torch.'):
            attempts.append(name)
        return None
sys.meta_path.insert(0, RecordTorch())
import edge.cli, edge.daemon.pipeline, edge.vision.generate, edge.vision.detect.yunet, edge.vision.align, edge.tools.demo
import edge.vision.face3d, edge.vision.face3d.bench, edge.tools.stills
from edge.daemon.pipeline import build_pipeline
from edge.config import config_from_dict
import threading
build_pipeline(config_from_dict({'camera': {'uri': '0'}}), threading.Event())  # with the face mesh
build_pipeline(config_from_dict({'camera': {'uri': '0'}, 'mesh': {'enabled': False},
                                 'generator': {'crop_without_mesh': False}}), threading.Event())  # without it
assert not attempts, f'torch import attempted: {attempts}'
assert 'torch' not in sys.modules
print('ok')
"""


def test_the_daemon_never_imports_torch():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
