"""mugshot-quantize: INT8 models that provably still work (onnxruntime static quantization)."""
