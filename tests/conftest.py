"""Shared fixtures: the repository root and a tiny synthetic dataset taken through the data stage."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from helpers import ROOT
from helpers.configs import smoke_config


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def smoke_cfg() -> dict:
    """The resolved smoke profile."""
    return smoke_config()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, smoke_cfg) -> dict:
    """The smoke-profile synthetic dataset, generated once per session, with each view the
    generator wrote (``synthetic``, ``synthetic_solo``, ``synthetic_foa`` when enabled) verified
    and split: ``{"cfg", "base", "views": {dataset: {"raw", "manifest", "splits"}}}``."""
    from avrepro.data.split import split_manifest
    from avrepro.data.synthetic import generate
    from avrepro.data.verify import verify_dataset

    base = tmp_path_factory.mktemp("tiny")
    cfg = copy.deepcopy(smoke_cfg)
    raw = base / "raw"
    generate(cfg["synthetic"], raw, seed=0, progress=False)
    layouts = {"synthetic": {}, **cfg["verify"]["layouts"]}
    views = {}
    for dataset, layout in layouts.items():
        if dataset != "synthetic" and layout.get("source") != "synthetic":
            continue  # a real dataset's layout (yt360's foa/ is not the generator's)
        root = raw / layout["subdir"] if layout.get("subdir") else raw
        if dataset != "synthetic" and not (root / layout.get("audio_dir", "")).is_dir():
            continue  # a view this profile does not generate
        vcfg = {**cfg["verify"], **{k: v for k, v in layout.items() if k not in ("source", "subdir")}}
        vcfg.pop("layouts")
        manifest = base / f"{dataset}.csv"
        verify_dataset(root, dataset, vcfg, manifest, base / "issues" / f"{dataset}.csv", progress=False)
        split_manifest(manifest, cfg["split"], base / "splits" / dataset)
        views[dataset] = {"raw": root, "manifest": manifest, "splits": base / "splits" / dataset}
    return {"cfg": cfg, "base": base, "views": views}


@pytest.fixture(scope="session")
def task_caches(tiny_data):
    """``task_caches(task)`` -> ``{"cfg", "caches": {split: FeatureCache}}`` for a task of the
    smoke profile, built once per session from :func:`tiny_data` (the task's own dataset)."""
    from avrepro.data.cache import FeatureCache, build_cache

    made: dict = {}

    def get(task: str) -> dict:
        if task not in made:
            cfg = tiny_data["cfg"]
            dataset = cfg[task]["dataset"]
            view = tiny_data["views"][dataset]
            feats = cfg[task]["features"]
            caches = {}
            for split in ("train", "val", "test"):
                out = tiny_data["base"] / "cache" / task / split
                build_cache(
                    view["manifest"],
                    view["raw"],
                    view["splits"] / f"{split}.txt",
                    out,
                    feats,
                    progress=False,
                    dataset=dataset,
                )
                caches[split] = FeatureCache(out, expect=feats)
            made[task] = {"cfg": cfg, "caches": caches, "view": view}
        return made[task]

    return get


@pytest.fixture(scope="session")
def tiny_caches(task_caches) -> dict:
    """The smoke-sized synthetic dataset cached for the binaural task."""
    got = task_caches("binaural")
    return {"cfg": got["cfg"], "caches": got["caches"], "base": got["view"]["raw"].parent}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whole-pipeline tests (`slow`) first, in their files' order: `make test` runs two pytest
    workers (pytest-xdist, a file per worker at a time), and the longest file started last
    would leave one worker idle at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
