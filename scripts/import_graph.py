"""The package's import graph: module-level cycles and imports that cross the layering.

Every `import` statement counts, those inside functions too (they run, only later). Exits 1 and
lists the problems when there are any:

    python scripts/import_graph.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jaxseg"

# Package -> the packages it must not import: inference is used by training only through a task
# (jaxseg.tasks), and inference runs from a checkpoint without the training code.
FORBIDDEN = {
    "jaxseg.inference": ("jaxseg.train", "jaxseg.tasks"),
    "jaxseg.train": ("jaxseg.inference",),
    "jaxseg.core": ("jaxseg.train", "jaxseg.inference", "jaxseg.tasks"),
    "jaxseg.models": ("jaxseg.train", "jaxseg.inference", "jaxseg.tasks"),
    "jaxseg.data": ("jaxseg.train", "jaxseg.inference", "jaxseg.tasks"),
    "jaxseg.io": ("jaxseg.train", "jaxseg.inference", "jaxseg.tasks", "jaxseg.data", "jaxseg.models"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The jaxseg modules that `path` imports (a `from package import name` naming a submodule counts it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            found |= submodules if len(submodules) == len(node.names) else submodules | {node.module}
    return {name for name in found if name in modules}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layering_violations(edges: dict[str, set[str]]) -> list[str]:
    def within(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    return [f"{source} imports {target}" for source, targets in sorted(edges.items()) for target in sorted(targets)
            for package, banned in FORBIDDEN.items() if within(source, package)
            and any(within(target, b) for b in banned)]


def problems() -> list[str]:
    edges = graph()
    return [f"import cycle: {' <-> '.join(c)}" for c in cycles(edges)] + layering_violations(edges)


if __name__ == "__main__":
    found = problems()
    print("\n".join(found) if found else "no import cycles, no layering violations")
    sys.exit(1 if found else 0)
