"""One naming rule for device and camera names, shared by the daemon, the receiver and Home
Assistant's ids.

A box may be called anything printable (``Haustür``, a camera ``front door``).  What goes
into MQTT topics, the receiver's folders and Home Assistant's ids is the name's *slug*:
ASCII letters, digits, ``_``, ``.`` and ``-``, starting with a letter, digit or ``_``, at
most 64 characters (``PLAIN_NAME``).  A name that is already plain is its own slug, so
topics of existing boxes do not change.  Others are transliterated (``Haustür`` ->
``Haustur``, ``front door`` -> ``front_door``); a name with nothing left after that
(``門``) becomes ``n`` and 8 hex digits of its sha256.  The name as written travels in the
event (``device_name``, ``camera_name``) and names the Home Assistant entities.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_LENGTH = 64


def slug(name: str) -> str:
    """The topic-, folder- and id-safe form of a device or camera name (see the module text)."""
    if PLAIN_NAME.match(name):
        return name
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_text).strip("_.-")[:MAX_LENGTH].rstrip("_.-")
    if not text:
        text = "n" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return text
