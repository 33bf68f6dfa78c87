"""Checkpoints are reproducible files: the same state saved twice gives the same bytes."""

from __future__ import annotations

import torch

from avrepro.engine.checkpoint import load_checkpoint, save_checkpoint


def test_same_state_same_bytes(tmp_path):
    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3}
    save_checkpoint(tmp_path / "a/best.pt", state)
    save_checkpoint(tmp_path / "b/best.pt", state)  # another temporary name, another folder
    assert (tmp_path / "a/best.pt").read_bytes() == (tmp_path / "b/best.pt").read_bytes()
    loaded = load_checkpoint(tmp_path / "a/best.pt")
    assert torch.equal(loaded["model"]["w"], state["model"]["w"]) and loaded["epoch"] == 3
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]  # no temporary file left
