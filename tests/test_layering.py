"""The layering of the README, read from the code: dcsomrl_study -> analysis -> studies -> dcsomrl.

No module imports a layer above its own: not by an import statement, and not by
a string naming a module of that layer (``importlib.import_module("analysis...")``,
a ``"module:function"`` path, ``python -m ...``).
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
