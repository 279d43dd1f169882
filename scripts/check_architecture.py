"""The layer contract of trustgen, checked from the source (``make lint`` and ``tests/test_architecture.py``).

Rules (``DESIGN.md``):

1. **Layers.** ``cli → capability → {diffusion, classifiers} → core``. ``core`` imports no other trustgen
   package; ``diffusion`` and ``classifiers`` import only ``core`` (and each other's public API is not needed);
   a capability imports only ``core``, ``diffusion`` and ``classifiers``; nothing but ``cli`` imports ``cli``.
2. **Capabilities are independent.** No capability imports another.
3. **No private names across modules.** ``from trustgen.x import _name`` (or ``module._name``) from another
   module is an error; a private name is private to its module.
4. **No cycles** between modules, counting imports inside functions (a lazy import hides a cycle from
   Python, not from a reader).
5. **Library code does not import an ``experiment`` module**: experiments are the top of a capability (data
   in, run folder out); only ``cli``, the demo and the same capability's other entry points (``experiment``,
   ``sweep``, Flower's ``server_app``) drive them. What two packages share lives in a library module.

Run: ``python scripts/check_architecture.py [SRC_ROOT]`` — prints one line per violation, exit 1 if any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "trustgen"
FOUNDATION = {"core"}
SHARED_LAYERS = {"diffusion", "classifiers"}
TOP = {"cli", "demo", "__main__", "__init__"}
# run-folder entry points that may drive their own package's experiment: a sweep of experiments, and the Flower
# ServerApp that runs CollaFuse's experiment on the deployment engine
ENTRY_MODULES = {"experiment", "sweep", "server_app"}


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: [{self.rule}] {self.detail}"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    names: tuple[str, ...]  # names taken with `from target import ...` (empty for `import target`)
    typing_only: bool = False  # inside `if TYPE_CHECKING:`: no runtime import, so no cycle


def module_name(path: Path, src_root: Path) -> str:
    parts = list(path.relative_to(src_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def collect_edges(src_root: Path) -> tuple[dict[str, Path], list[Edge]]:
    """Every module under ``src_root/trustgen`` and every import edge between trustgen modules."""
    modules: dict[str, Path] = {}
    for path in sorted((src_root / PACKAGE).rglob("*.py")):
        modules[module_name(path, src_root)] = path
    edges: list[Edge] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        typing_nodes = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block)
                        for stmt in block.body for n in ast.walk(stmt)}  # type: ignore[attr-defined]
        for node in ast.walk(tree):
            typing_only = id(node) in typing_nodes
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        edges.append(Edge(name, alias.name, node.lineno, (), typing_only))
            elif isinstance(node, ast.ImportFrom):
                target = (_resolve_relative(name, is_package, node.level, node.module) if node.level
                          else (node.module or ""))
                if target.split(".")[0] != PACKAGE:
                    continue
                plain: list[str] = []
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # `from pkg import submodule`
                        edges.append(Edge(name, sub, node.lineno, (), typing_only))
                    else:
                        plain.append(alias.name)
                if plain:
                    edges.append(Edge(name, target, node.lineno, tuple(plain), typing_only))
    return modules, edges


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def allowed(source_pkg: str, target_pkg: str) -> bool:
    if source_pkg == target_pkg or target_pkg == "__init__":
        return True
    if source_pkg in TOP:
        return True
    if target_pkg in TOP:
        return False
    if source_pkg in FOUNDATION:
        return False
    if source_pkg in SHARED_LAYERS:
        return target_pkg in FOUNDATION
    return target_pkg in FOUNDATION | SHARED_LAYERS  # a capability


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def check_layers(edges: list[Edge]) -> Iterator[Violation]:
    for e in edges:
        src, dst = top_package(e.source), top_package(e.target)
        if not allowed(src, dst):
            rule = "independent capabilities" if src not in FOUNDATION | SHARED_LAYERS | TOP and \
                dst not in FOUNDATION | SHARED_LAYERS | TOP else "layers"
            yield Violation(e.source, e.line, rule, f"{src} may not import {dst} ({e.target})")


def check_private(edges: list[Edge], modules: dict[str, Path]) -> Iterator[Violation]:
    for e in edges:
        if e.target == e.source:
            continue
        for name in e.names:
            if _is_private(name):
                yield Violation(e.source, e.line, "private name", f"imports {e.target}.{name}")
    # attribute access `module._name` on an imported trustgen module
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules and full != name:
                        aliases[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(PACKAGE) and alias.asname and alias.name != name:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _is_private(node.attr)):
                yield Violation(name, node.lineno, "private name", f"uses {aliases[node.value.id]}.{node.attr}")


def check_experiment_imports(edges: list[Edge]) -> Iterator[Violation]:
    for e in edges:
        src = top_package(e.source)
        if src in TOP:
            continue
        if not e.target.endswith(".experiment"):
            continue
        package_init = e.source.count(".") == 1  # a capability's public __init__ re-exports its experiment
        entry_point = package_init or e.source.rsplit(".", 1)[-1] in ENTRY_MODULES
        if not (entry_point and top_package(e.source) == top_package(e.target)):
            yield Violation(e.source, e.line, "experiment import", f"library code imports {e.target}")


def _owning_module(target: str, modules: dict[str, Path]) -> str | None:
    while target and target not in modules:
        target = target.rsplit(".", 1)[0] if "." in target else ""
    return target or None


def check_cycles(edges: list[Edge], modules: dict[str, Path]) -> Iterator[Violation]:
    """Strongly connected components of the module graph (package ``__init__`` re-exports count as edges)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    where: dict[tuple[str, str], int] = {}
    for e in edges:
        dst = _owning_module(e.target, modules)
        if dst and dst != e.source and not e.typing_only:
            graph[e.source].add(dst)
            where.setdefault((e.source, dst), e.line)
    for component in _strongly_connected(graph):
        if len(component) > 1:
            first = min(component)
            chain = " → ".join(sorted(component))
            yield Violation(first, where.get((first, next(iter(graph[first] & component))), 0), "cycle", chain)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp: set[str] = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == node:
                        break
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(src_root: Path) -> list[Violation]:
    modules, edges = collect_edges(src_root)
    found = [*check_layers(edges), *check_private(edges, modules), *check_experiment_imports(edges),
             *check_cycles(edges, modules)]
    return sorted(set(found), key=lambda v: (v.rule, v.module, v.line))


def main(argv: list[str]) -> int:
    src_root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "src"
    if not (src_root / PACKAGE).is_dir():
        print(f"error: {src_root / PACKAGE} is not a folder", file=sys.stderr)
        return 2
    violations = check(src_root)
    for v in violations:
        print(v)
    print(f"{len(violations)} architecture violation(s)" if violations else "architecture: layers ok, "
          "no private cross-module imports, no cycles")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
