"""Recipes that rebuild shipped model files from pinned registry packages (workstation only)."""
