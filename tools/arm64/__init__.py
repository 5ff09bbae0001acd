"""Checks that the camera box installs and runs on arm64 (Raspberry Pi OS bookworm, Jetson).

- ``wheels``: every package the box installs resolves to an aarch64 CPython 3.11 manylinux wheel.
- ``sysroot``: a Debian 12 arm64 user space from Debian's own packages, and ``qemu-aarch64-static``.
- ``probe``: detector and generator outputs, run by the x86 and the arm64 interpreter alike.
- ``compare``: the side-by-side comparison with its tolerances.
- ``e2e``: the whole run (``python -m tools.arm64.e2e``).
"""
