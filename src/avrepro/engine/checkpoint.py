"""Atomic checkpoints, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path

import torch

from avrepro.io import atomic_path


def save_checkpoint(path: str | Path, state: dict) -> None:
    """``torch.save`` into a temporary file, then rename (a kill never leaves half a checkpoint).
    Saved through an open file, not a path: torch then names the archive's records ``archive/``
    instead of after the (random) temporary file, so the same state gives the same bytes and
    DVC sees a retrained but identical model as unchanged."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (tensors and plain containers only)."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: checkpoint not found") from None
    except Exception as exc:
        raise ValueError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}: {exc})") from None
