"""Task registry: the engine finds tasks here by id; adding a task adds one entry."""

from __future__ import annotations

from importlib import import_module

_REGISTRY = {
    "binaural": "avrepro.tasks.binaural.task:BinauralTask",
    "separation": "avrepro.tasks.separation.task:SeparationTask",
    "sync": "avrepro.tasks.sync.task:SyncTask",
    "spatial": "avrepro.tasks.spatial.task:SpatialTask",
}
TASKS = tuple(_REGISTRY)  # in the order the report shows them


def get_task(name: str):
    """Instantiate the task registered under ``name``."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown task '{name}' (registered: {', '.join(sorted(_REGISTRY))})")
    module, cls = _REGISTRY[name].split(":")
    return getattr(import_module(module), cls)()


def task_names() -> list[str]:
    return sorted(_REGISTRY)
