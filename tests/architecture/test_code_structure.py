"""The code's shape, kept by tests: short functions, no import cycles, and imports only from
the same or a lower layer (docs/architecture.md draws the layers)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

SRC = ROOT / "src"
MAX_FUNCTION_LINES = 60
# Lowest first: a module may import from its own layer or any layer below it, never above.
LAYERS = (
    ("avrepro.io", "avrepro.config", "avrepro.runguard"),
    ("avrepro.media", "avrepro.audio", "avrepro.video", "avrepro.nets", "avrepro.metrics"),
    ("avrepro.data",),
    ("avrepro.figures", "avrepro.report.kit", "avrepro.report.html", "avrepro.report"),
    ("avrepro.tasks",),
    ("avrepro.engine",),
    ("avrepro.report.build", "avrepro.dvcyaml", "avrepro.stale"),
    ("avrepro.cli", "avrepro.__main__", "avrepro"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(SRC.rglob("*.py"))}


def imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The avrepro modules a module imports (anywhere in it, function bodies included)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("avrepro"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            out |= {n for n in names if n in known} or {node.module}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("avrepro")}
    return out


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module}: in no layer of {__file__}"
    return rank


def test_no_function_longer_than_the_limit():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_imports_go_down_the_layers():
    mods = modules()
    known = set(mods)
    upward = [
        f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
        for m, tree in mods.items()
        for d in sorted(imports(tree, known))
        if d in known and layer_of(d) > layer_of(m)
    ]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_cycle():
    mods = modules()
    known = set(mods)
    graph = {m: {d for d in imports(tree, known) if d in known and d != m} for m, tree in mods.items()}
    # a package's own __init__ re-exporting its modules is not a cycle in the code's design
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d) :] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
