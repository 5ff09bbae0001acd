"""``python -m edge.receive``: kept for scripts that ran the receiver by this name; the
receiver lives in ``edge.receiver``."""
import sys

from .receiver import Receiver, start_receiving, stop_receiving  # noqa: F401
from .receiver.cli import main

if __name__ == "__main__":
    sys.exit(main())
