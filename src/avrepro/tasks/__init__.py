"""The task registry: the engine, the CLI and the report find a task here by name, and know it
only through the :class:`~avrepro.tasks.base.Task` contract. Adding a task adds one entry (or
one :func:`register_task` call for a task that lives outside this package)."""

from __future__ import annotations

from importlib import import_module

_REGISTRY: dict[str, str | type] = {
    "binaural": "avrepro.tasks.binaural.task:BinauralTask",
    "separation": "avrepro.tasks.separation.task:SeparationTask",
    "sync": "avrepro.tasks.sync.task:SyncTask",
    "spatial": "avrepro.tasks.spatial.task:SpatialTask",
}
TASKS = tuple(_REGISTRY)  # the built-in tasks, in the order the report shows them


def register_task(name: str, task: str | type) -> None:
    """Register ``task`` (a :class:`~avrepro.tasks.base.Task` subclass, or ``"module:Class"``)
    under ``name``; a name registered already is replaced."""
    _REGISTRY[name] = task


def get_task(name: str):
    """Instantiate the task registered under ``name``."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown task '{name}' (registered: {', '.join(sorted(_REGISTRY))})")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module, cls = entry.split(":")
        entry = getattr(import_module(module), cls)
    return entry()


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def check_task_names(cfg: dict, source: str = "params.yaml") -> None:
    """Raise ``ValueError`` naming the key when a task in ``cfg["tasks"]`` is not registered or
    its section lists a variant, baseline or control the task does not declare. A built-in task's
    names are read from its light ``names.py`` (no torch import at every Snakemake start)."""
    for name in cfg.get("tasks", []):
        if name not in _REGISTRY:
            raise ValueError(
                f"{source}: tasks: unknown task '{name}' (registered: {', '.join(sorted(_REGISTRY))})"
            )
        variants, baselines, controls = _declared_names(name)
        check_section_names(cfg.get(name) or {}, variants, baselines, controls, f"{source}: {name}")


def _declared_names(name: str) -> tuple[tuple, tuple, tuple]:
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        names = import_module(entry.split(":")[0].rsplit(".", 1)[0] + ".names")
        return names.VARIANTS, names.BASELINES, names.CONTROLS
    return entry.variants, entry.baselines, entry.controls


def demo_variant(name: str, section: dict) -> str | None:
    """The variant the demo stage runs (``<task>.demo``): ``demo.variant``, else the last variant
    of the section that is not a shortcut variant; None when the section has no ``demo``."""
    demo = section.get("demo")
    if not demo:
        return None
    if demo.get("variant"):
        return demo["variant"]
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        shortcuts = import_module(entry.split(":")[0].rsplit(".", 1)[0] + ".names").SHORTCUT_VARIANTS
    else:
        shortcuts = entry.shortcut_variants
    full = [v for v in section.get("variants") or [] if v not in shortcuts]
    return full[-1] if full else None


def task_verbs() -> dict[str, tuple[str, object]]:
    """``{verb: (task name, verb module)}`` of the built-in tasks: each package's light
    ``verb.py`` (``VERB``, ``HELP``, ``add_arguments(parser)``; no torch import, so ``avrepro
    --help`` and the pipeline steps stay fast). The verb runs through :meth:`Task.infer`."""
    verbs = {}
    for name, entry in _REGISTRY.items():
        if not isinstance(entry, str):
            continue
        try:
            module = import_module(entry.split(":")[0].rsplit(".", 1)[0] + ".verb")
        except ModuleNotFoundError:
            continue
        verbs[module.VERB] = (name, module)
    return verbs


def check_section_names(section: dict, variants, baselines, controls, where: str) -> None:
    """Raise ``ValueError`` naming ``where.<key>`` when a task's params section lists a variant,
    baseline or control (or an ``init_from`` pair, an ``eval.demo_variant``, a ``demo.variant``)
    that is not among the declared names (a ``demo.variant`` also among the section's variants)."""
    given_controls = section.get("controls") or {}
    init_from = section.get("init_from") or {}
    demo = [(section.get("eval") or {}).get("demo_variant"), (section.get("demo") or {}).get("variant")]
    checks = (
        ("variants", section.get("variants") or [], variants),
        ("baselines", section.get("baselines") or [], baselines),
        ("controls", list(given_controls), controls),
        ("controls", list(given_controls.values()), variants),
        ("init_from", list(init_from) + list(init_from.values()), variants),
        ("eval.demo_variant", [demo[0]] if demo[0] else [], variants),
        ("demo.variant", [demo[1]] if demo[1] else [], variants),
        ("demo.variant", [demo[1]] if demo[1] else [], section.get("variants") or []),
    )
    for key, given, known in checks:
        unknown = [n for n in given if n not in known]
        if unknown:
            raise ValueError(
                f"{where}.{key}: unknown name '{unknown[0]}' (known: {', '.join(known) or 'none'})"
            )
