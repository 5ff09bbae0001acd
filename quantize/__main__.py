"""``python -m quantize``: the same as ``mugshot-quantize``."""
import sys

from .cli import main

sys.exit(main())
