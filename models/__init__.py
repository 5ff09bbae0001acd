"""Shipped model files and their manifest (data only; see models/README.md)."""
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
