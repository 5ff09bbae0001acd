"""Face geometry on the box: MediaPipe's dense face mesh, head pose from it, and a frontalizing renderer.

numpy + OpenCV (+ onnxruntime or LiteRT for the mesh network) only; never torch.
"""
from .canonical import CanonicalFace, load_canonical
from .mesh import FaceMesh, FaceMesher, make_mesher
from .pose import HeadPose, procrustes_pose
from .frontalize import Frontalized, FrontalRenderer

__all__ = ["CanonicalFace", "load_canonical", "FaceMesh", "FaceMesher", "make_mesher", "HeadPose",
           "procrustes_pose", "Frontalized", "FrontalRenderer"]
