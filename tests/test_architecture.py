"""The layer contract (``scripts/check_architecture.py``): trustgen's source passes it, and it catches each kind
of violation in a deliberately bad package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _checker():
    spec = importlib.util.spec_from_file_location("check_architecture", ROOT / "scripts" / "check_architecture.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_architecture"] = module
    spec.loader.exec_module(module)
    return module


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "trustgen" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_trustgen_source_keeps_the_layer_contract():
    violations = _checker().check(ROOT / "src")
    assert violations == [], "\n".join(map(str, violations))


def test_a_bad_package_is_caught_on_every_rule(tmp_path):
    src = _write(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "def _helper():\n    return 1\n",
        "core/b.py": "from trustgen.core.a import _helper\n",  # private name across modules
        "core/c.py": "import trustgen.core.a as a\nx = a._helper()\n",  # private name by attribute
        "core/d.py": "def f():\n    from trustgen.fairness.x import y\n",  # core importing a capability (lazily)
        "fairness/__init__.py": "",
        "fairness/x.py": "y = 1\n",
        "fairness/experiment.py": "def run():\n    pass\n",
        "fairness/algo.py": "from trustgen.fairness.experiment import run\n",  # library code importing an experiment
        "memorization/__init__.py": "",
        "memorization/m.py": "from trustgen.fairness.x import y\n",  # capability importing another capability
        "memorization/experiment.py": "from trustgen.fairness.experiment import run\n",  # and its experiment
        "audit/__init__.py": "",
        "audit/p.py": "from trustgen.audit.q import g\ndef f():\n    pass\n",
        "audit/q.py": "def g():\n    from trustgen.audit.p import f\n",  # a cycle hidden inside a function
        "audit/r.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from trustgen.audit.s import h\n",
        "audit/s.py": "from trustgen.audit.r import TYPE_CHECKING as h\n",  # typing-only: not a cycle
        "cli/__init__.py": "",
        "cli/main.py": "from trustgen.fairness.experiment import run\nfrom trustgen.memorization.m import y\n",  # fine
    })
    found = {(v.rule, v.module) for v in _checker().check(src)}
    assert found == {
        ("private name", "trustgen.core.b"),
        ("private name", "trustgen.core.c"),
        ("layers", "trustgen.core.d"),
        ("experiment import", "trustgen.fairness.algo"),
        ("independent capabilities", "trustgen.memorization.m"),
        ("independent capabilities", "trustgen.memorization.experiment"),
        ("experiment import", "trustgen.memorization.experiment"),
        ("cycle", "trustgen.audit.p"),
    }, found


def test_the_command_exits_nonzero_on_violations(tmp_path, capsys):
    src = _write(tmp_path, {"__init__.py": "", "core/__init__.py": "", "core/a.py": "def _h():\n    pass\n",
                            "core/b.py": "from trustgen.core.a import _h\n"})
    assert _checker().main(["check", str(src)]) == 1
    assert "[private name] imports trustgen.core.a._h" in capsys.readouterr().out


def test_test_modules_have_unique_names():
    """pytest imports test files by basename (no packages under tests/): a second ``test_x.py`` stops collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
