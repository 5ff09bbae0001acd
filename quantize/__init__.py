"""mugshot-quantize: INT8 models that provably still work (onnxruntime static quantization)."""
# onnxruntime.quantization appends onnxruntime/transformers to sys.path, whose `models` folder would
# then shadow this project's `models` package (the shipped files) for every later import from an
# installed script; import ours first, so sys.modules holds it.
import models as _models  # noqa: F401
