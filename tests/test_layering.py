"""The layering of the README, read from the code: dcsomrl_study -> analysis -> studies -> dcsomrl.

No module imports a layer above its own: not by an import statement, and not by
a string naming a module of that layer (``importlib.import_module("analysis...")``,
a ``"module:function"`` path, ``python -m ...``). And no import cycle among the
project's modules, counting the imports inside functions: a cycle held together
by imports deferred into functions is still a cycle.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"dcsomrl": 0, "studies": 1, "analysis": 2, "dcsomrl_study": 3}
NAMED = re.compile(r"^(dcsomrl_study|analysis|studies|dcsomrl)(\.[A-Za-z_][\w.]*)?(:\w+)?$")


def references(path: Path) -> set[str]:
    """Top-level packages a module imports, or names in a string that looks like a module path."""
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and NAMED.match(node.value):
            if "." in node.value or ":" in node.value:  # "analysis.commands", "studies.cli", "pkg:fn"
                found.add(NAMED.match(node.value).group(1))
    return found & set(LAYERS)


MODULES = sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def test_every_layer_has_modules():
    assert {p.relative_to(ROOT).parts[0] for p in MODULES} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reaches_a_layer_above_its_own(path):
    layer = path.relative_to(ROOT).parts[0]
    above = sorted(ref for ref in references(path) if LAYERS[ref] > LAYERS[layer])
    assert not above, f"{path.relative_to(ROOT)} ({layer}) reaches up to {above}"


def test_the_check_sees_both_kinds_of_reference(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('import importlib\nfrom analysis import report\nimportlib.import_module("dcsomrl_study.cli")\n')
    assert references(probe) == {"analysis", "dcsomrl_study"}


# --------------------------------------------------------------------------- no import cycle

def module_name(path: Path, root: Path) -> str:
    """``studies/worker.py`` -> ``studies.worker``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that module ``name`` (file ``path``) imports, inside functions too.

    ``import a.b`` imports ``a.b``; ``from a import b`` imports ``a.b`` when that is a module, else ``a``
    (``b`` is a name in ``a/__init__.py``); relative imports are resolved; a module below the project's
    (``from pkg.m import f``) counts as the project module that holds it."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    held = {_holder(target, modules) for target in found}
    return held - {None, name}


def _holder(target: str, modules: set[str]) -> str | None:
    """The project module ``target`` is or lies in (``dcsomrl.params.check`` -> ``dcsomrl.params``)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def import_graph(root: Path, packages) -> dict[str, set[str]]:
    """Every module of ``packages`` under ``root`` -> the project modules it imports."""
    files = {module_name(p, root): p for package in packages for p in sorted((root / package).rglob("*.py"))}
    return {name: imported(path, name, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: each the sorted modules that reach one another (a strongly connected
    component of more than one module), in sorted order."""
    reach = {module: _reachable(graph, module) for module in graph}
    groups = {frozenset({m, *(n for n in reach[m] if m in reach[n])}) for m in graph}
    return sorted(sorted(group) for group in groups if len(group) > 1)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cycle_path(graph: dict[str, set[str]], group: list[str]) -> str:
    """One cycle through a group's first module, as ``a -> b -> a`` (the shortest, for the message)."""
    start, paths = group[0], {group[0]: [group[0]]}
    todo = [start]
    while todo:
        here = todo.pop(0)
        for nxt in sorted(graph[here] & set(group)):
            if nxt == start:
                return " -> ".join([*paths[here], start])
            if nxt not in paths:
                paths[nxt] = [*paths[here], nxt]
                todo.append(nxt)
    return " -> ".join(group)


def test_no_import_cycle_among_the_projects_modules():
    graph = import_graph(ROOT, LAYERS)
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(cycle_path(graph, group) for group in found)


def test_the_cycle_finder_on_a_small_package(tmp_path):
    files = {
        "__init__.py": "helper = 1\nfrom pkg import e\nfrom pkg import g\n",
        "a.py": "from pkg import b\n",                        # a -> b (a submodule, not pkg)
        "b.py": "def late():\n    from . import c\n",          # inside a function, relative: b -> c
        "c.py": "import pkg.a\n",                               # c -> a: the cycle a, b, c
        "d.py": "from pkg import helper\n",                    # a name of __init__: d -> pkg
        "e.py": "from pkg.d import x\n",                        # e -> d -> pkg -> e: the cycle pkg, d, e
        "g.py": "from pkg import h\nimport os\n",              # g -> h only: no cycle pkg <-> g
        "h.py": "",
        "sub/__init__.py": "from .. import a\n",                # pkg.sub -> pkg.a, reached by nothing
    }
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.g"] == {"pkg.h"} and graph["pkg.sub"] == {"pkg.a"} and graph["pkg.d"] == {"pkg"}
    assert cycles(graph) == [["pkg", "pkg.d", "pkg.e"], ["pkg.a", "pkg.b", "pkg.c"]]
    assert cycle_path(graph, ["pkg.a", "pkg.b", "pkg.c"]) == "pkg.a -> pkg.b -> pkg.c -> pkg.a"
