"""Fixtures for the trainer tests live in tests/conftest.py (the quantizer tests share them)."""
