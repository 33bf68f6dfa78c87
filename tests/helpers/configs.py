"""Test configurations derived from the ``smoke`` profile through the schema, never written by
hand: a test states only what it changes, and the result is validated like ``params.yaml``."""

from __future__ import annotations

import copy
import functools

from avrepro.config import load_params, load_yaml, resolve
from helpers import ROOT

PARAMS = ROOT / "params.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "params.schema.yaml"


@functools.cache
def _raw() -> tuple[dict, dict]:
    return load_yaml(PARAMS), load_yaml(SCHEMA)


def smoke_config(overrides: dict | None = None) -> dict:
    """The resolved smoke profile with nested ``overrides`` merged in, validated."""
    if not overrides:
        return copy.deepcopy(_smoke())
    raw, schema = _raw()
    return resolve(raw, {"profile": "smoke", **overrides}, schema=schema, source=str(PARAMS))


@functools.cache
def _smoke() -> dict:
    return load_params(PARAMS, overrides={"profile": "smoke"})


def task_config(task: str, overrides: dict | None = None) -> dict:
    """The smoke profile's ``task`` section with ``overrides`` merged in, validated."""
    return smoke_config({task: overrides} if overrides else None)[task]
