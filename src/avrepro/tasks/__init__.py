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


SIMULATOR_FACTS = {
    "rir": "the simulated room impulse responses",
    "boxes": "the sound sources' boxes in the frames",
    "sources360": "the 360 scene's instruments (class and direction)",
}
"""What only the embedded simulator knows about a clip, by the name tasks use for it."""


def fit_to_datasets(cfg: dict) -> dict:
    """Fit each task of ``cfg`` to its dataset, in place. On data the simulator did not make, the
    variants that are nothing without a simulator fact (the task's ``names.SIMULATOR_ONLY``) are
    left out (``<task>.left_out``: variant -> reason; the controls, ``init_from`` pairs and
    ``demo.variant`` naming them too), and the kept variants train and evaluate without the parts
    that need one (``<task>.without``: facts, from ``names.SIMULATOR_NEEDS``)."""
    for name in cfg.get("tasks", []):
        section = cfg[name]
        if _is_synthetic(cfg, section["dataset"]):
            continue
        needs, only = _simulator_needs(name)
        variants = list(section.get("variants") or [])
        left_out = {v: needs.get(v, ()) for v in variants if v in only}
        kept = [v for v in variants if v not in left_out]
        if left_out and not kept:
            raise ValueError(
                f"{name}.variants: every variant needs what only the simulator knows "
                f"({', '.join(left_out)}); dataset {section['dataset']} has none of it"
            )
        without = sorted({f for v in kept for f in needs.get(v, ())})
        if left_out or without:
            _leave_out(section, kept, left_out, without)
    return cfg


def _leave_out(section: dict, kept: list[str], left_out: dict, without: list[str]) -> None:
    section["variants"] = kept
    section["controls"] = {c: v for c, v in (section.get("controls") or {}).items() if v in kept}
    section["init_from"] = {
        v: o for v, o in (section.get("init_from") or {}).items() if v in kept and o in kept
    }
    if (section.get("demo") or {}).get("variant") in left_out:
        section["demo"] = {k: v for k, v in section["demo"].items() if k != "variant"}
    section["left_out"] = {
        v: "needs " + ", ".join(SIMULATOR_FACTS.get(f, f) for f in facts) for v, facts in left_out.items()
    }
    if without:
        section["without"] = without


def _is_synthetic(cfg: dict, dataset: str) -> bool:
    """Whether the embedded simulator made ``dataset`` (itself, or a view of its folder)."""
    layout = (cfg.get("verify") or {}).get("layouts", {}).get(dataset) or {}
    return layout.get("source", dataset) == "synthetic"


def _simulator_needs(name: str) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """A task's ``SIMULATOR_NEEDS`` and ``SIMULATOR_ONLY`` (none declared: none)."""
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        entry = import_module(entry.split(":")[0].rsplit(".", 1)[0] + ".names")
        return dict(getattr(entry, "SIMULATOR_NEEDS", {})), tuple(getattr(entry, "SIMULATOR_ONLY", ()))
    return dict(getattr(entry, "simulator_needs", {})), tuple(getattr(entry, "simulator_only", ()))


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
