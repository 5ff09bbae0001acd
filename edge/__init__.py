"""mugshot-edge: the camera-box daemon."""

__version__ = "0.1.0"
