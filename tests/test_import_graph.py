"""The package's imports form no cycle, and inference and training meet only through the tasks."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_graph.py"


def _script():
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_and_no_layering_violations():
    assert _script().problems() == []


def test_the_check_finds_a_cycle_and_a_violation():
    graph = _script()
    edges = {"jaxseg.inference.a": {"jaxseg.train.b"}, "jaxseg.train.b": {"jaxseg.inference.a"}}
    assert graph.cycles(edges) == [["jaxseg.inference.a", "jaxseg.train.b"]]
    assert graph.layering_violations(edges) == ["jaxseg.inference.a imports jaxseg.train.b",
                                                "jaxseg.train.b imports jaxseg.inference.a"]
