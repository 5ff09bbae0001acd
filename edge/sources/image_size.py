"""A picture's width and height from its header, before anything is decoded.

A frame's size is bounded before it is decoded (``camera.max_pixels``): a 20000x20000 PNG
in an images folder would otherwise take 1.2 GB to decode, enough to kill a 2 GB Pi.  Every
suffix the images source reads is covered: PNG, JPEG, BMP, PNM (pgm/ppm), WebP and TIFF.
None means the header could not be read (the file is then unreadable, as OpenCV would find).
"""
from __future__ import annotations

import struct
from pathlib import Path

HEAD = 64 * 1024


def image_size(path: str | Path) -> tuple[int, int] | None:
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head.startswith(b"\xff\xd8"):
                return _jpeg(f)
            if head.startswith(b"BM") and len(head) >= 26:
                width, height = struct.unpack("<ii", head[18:26])
                return abs(width), abs(height)
            if head[:1] == b"P" and head[1:2] in b"123456":
                f.seek(0)
                return _pnm(f.read(HEAD))
            if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
                return _webp(head)
            if head[:4] in (b"II*\x00", b"MM\x00*"):
                return _tiff(f, head)
    except (OSError, struct.error, ValueError):
        return None
    return None


def _jpeg(f) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        marker = f.read(2)
        while marker[:1] == b"\xff" and marker[1:2] == b"\xff":  # fill bytes
            marker = marker[1:] + f.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
            continue
        length = struct.unpack(">H", f.read(2))[0]
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            _, height, width = struct.unpack(">BHH", f.read(5))
            return width, height
        if kind == 0xDA or length < 2:  # scan data before any frame header
            return None
        f.seek(length - 2, 1)


def _pnm(data: bytes) -> tuple[int, int] | None:
    fields, i = [], 2
    while len(fields) < 2 and i < len(data):
        c = data[i:i + 1]
        if c == b"#":
            i = data.find(b"\n", i)
            if i < 0:
                return None
        elif c.isdigit():
            j = i
            while j < len(data) and data[j:j + 1].isdigit():
                j += 1
            fields.append(int(data[i:j]))
            i = j
            continue
        i += 1
    return (fields[0], fields[1]) if len(fields) == 2 else None


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _tiff(f, head: bytes) -> tuple[int, int] | None:
    order = "<" if head[:2] == b"II" else ">"
    f.seek(struct.unpack(order + "I", head[4:8])[0])  # the first image directory, wherever it is
    count = struct.unpack(order + "H", f.read(2))[0]
    entries = f.read(12 * min(count, 4096))
    found = {}
    for n in range(len(entries) // 12):
        entry = entries[12 * n: 12 * n + 12]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            found[tag] = struct.unpack(order + "H", entry[8:10])[0] if kind == 3 else \
                struct.unpack(order + "I", entry[8:12])[0]
    return (found[256], found[257]) if len(found) == 2 else None
