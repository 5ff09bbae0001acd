"""The optional extras of pyproject.toml: which one to install when a module is missing.

``mugshot-train`` and ``mugshot-quantize`` turn a missing optional module into one line
naming the extra, instead of a ``ModuleNotFoundError`` traceback.
"""
from __future__ import annotations

EXTRA_FOR_MODULE = {
    "torch": "trainer", "onnxscript": "trainer",
    "dlib": "eval", "face_recognition_models": "eval",
    "litert_torch": "tflite-export", "ai_edge_quantizer": "tflite-export",
    "ai_edge_litert": "tflite",
    "skimage": "demo", "amqtt": "demo",
}
CPU_TORCH = ("on a machine without a CUDA GPU install the CPU build of torch first: "
             ".venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")


class MissingExtra(RuntimeError):
    """An optional module is not installed; the message says which extra brings it."""

    def __init__(self, module: str, what: str = ""):
        self.module = module.split(".")[0]
        self.extra = EXTRA_FOR_MODULE.get(self.module, "")
        needs = f"{what} needs" if what else "this needs"
        message = f"{self.module} is not installed: {needs} the '{self.extra}' extra " \
                  f"(.venv/bin/pip install -e '.[{self.extra}]')"
        if self.module == "torch":
            message += f"; {CPU_TORCH}"
        super().__init__(message)


def missing_extra(exc: ModuleNotFoundError) -> MissingExtra | None:
    """The MissingExtra for a ModuleNotFoundError of an optional module, or None for any other module."""
    top = (exc.name or "").split(".")[0]
    return MissingExtra(top) if top in EXTRA_FOR_MODULE else None


EXIT_MISSING_EXTRA = 69  # EX_UNAVAILABLE, as mugshot-edge uses for a missing model


def run_naming_extras(command, log) -> int:
    """``command()``; a missing optional module becomes one logged line naming its extra, and exit 69."""
    try:
        return command()
    except MissingExtra as exc:
        log.error("%s", exc)
        return EXIT_MISSING_EXTRA
    except ModuleNotFoundError as exc:
        if (extra := missing_extra(exc)) is None:
            raise
        log.error("%s", extra)
        return EXIT_MISSING_EXTRA
