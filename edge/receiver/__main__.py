"""``python -m edge.receiver``: the receiver's command line (the same as ``mugshot-receive``)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
