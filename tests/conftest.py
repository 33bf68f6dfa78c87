"""Shared fixtures: the repository root and a tiny synthetic dataset taken through the data stage."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from avrepro.config import load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def smoke_cfg() -> dict:
    """The resolved smoke profile."""
    return load_params(ROOT / "params.yaml", overrides={"profile": "smoke"})


@pytest.fixture(scope="session")
def tiny_caches(tmp_path_factory, smoke_cfg) -> dict:
    """A smoke-sized synthetic dataset, verified, split and cached for the binaural task."""
    from avrepro.data.cache import FeatureCache, build_cache
    from avrepro.data.split import split_manifest
    from avrepro.data.synthetic import generate
    from avrepro.data.verify import verify_dataset

    base = tmp_path_factory.mktemp("tiny")
    cfg = copy.deepcopy(smoke_cfg)
    raw = base / "raw"
    generate(cfg["synthetic"], raw, seed=0, progress=False)
    verify_dataset(raw, "synthetic", cfg["verify"], base / "manifest.csv", base / "issues.csv")
    split_manifest(base / "manifest.csv", cfg["split"], base / "splits")
    caches = {}
    for split in ("train", "val", "test"):
        out = base / "cache" / split
        build_cache(base / "manifest.csv", raw, base / "splits" / f"{split}.txt", out,
                    cfg["binaural"]["features"], progress=False)
        caches[split] = FeatureCache(out, expect=cfg["binaural"]["features"])
    return {"cfg": cfg, "caches": caches, "base": base}
