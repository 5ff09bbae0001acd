"""Face geometry on the box: MediaPipe's dense face mesh and the true head pose from it.

numpy + OpenCV (+ onnxruntime or LiteRT for the mesh network) only; never torch.  (The frontalizing
renderer that turned the mesh frontal was retired in favour of restoration: docs/results.md.)
"""
from .canonical import CanonicalFace, load_canonical
from .mesh import FaceMesh, FaceMesher, make_mesher
from .pose import HeadPose, procrustes_pose

__all__ = ["CanonicalFace", "load_canonical", "FaceMesh", "FaceMesher", "make_mesher", "HeadPose",
           "procrustes_pose"]
