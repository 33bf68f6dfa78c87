"""Test helpers shared by the test packages (on ``sys.path`` through pytest's ``pythonpath``)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root
