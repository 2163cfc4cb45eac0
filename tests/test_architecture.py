"""The shape of the code: imports only go downward, without cycles, and no module outgrows a read.

The layers, bottom up (README, "Architecture"): atoms and errors; types and array values; option
parsers, coders, functions and kernels; the math and the lowering; evaluation; layers;
containers; the verbs; NetTrain; the package and the tour. A module may import from its own
layer or below, never above, and the imports form no cycle.
"""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "wlnet"

RANKS = {
    "wlnet.symbols": 0, "wlnet.errors": 0, "wlnet.version": 0, "wlnet.writing": 0, "wlnet.reading": 0,
    "wlnet.cache": 0,
    "wlnet.types": 1, "wlnet.arrays": 1,
    "wlnet.options": 2, "wlnet.inputs": 2, "wlnet.coders": 2, "wlnet.functions": 2, "wlnet.optimizers": 2,
    "wlnet.kernels": 2, "wlnet.display": 2, "wlnet.graphics": 2, "wlnet.operators": 2,
    "wlnet.functional": 3, "wlnet.lower": 3, "wlnet.gradients": 3,
    "wlnet.evaluate": 4, "wlnet.fitting": 4,
    "wlnet.layers": 5,
    "wlnet.nets": 6, "wlnet.nn": 6,
    "wlnet.initialize": 7, "wlnet.extract": 7, "wlnet.information": 7, "wlnet.serialize": 7, "wlnet.files": 7,
    "wlnet.onnx": 7, "wlnet.convert": 7,
    "wlnet.train": 8,
    "wlnet": 9, "wlnet.tour": 9, "wlnet.__main__": 9,
}
MAX_LINES = 500  # outside kernels/, whose compiled loops are kept whole on purpose


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = SRC / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(path: pathlib.Path) -> set[str]:
    """The wlnet modules ``path`` imports, at the top or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = {f"{target}.{alias.name}" for alias in node.names}
            found |= {n for n in names if is_module(n)} | ({target} if node.module else set())
    return {n for n in found if n.split(".")[0] == "wlnet" and n != name}


def rank(name: str) -> int:
    while name not in RANKS:
        name = name.rpartition(".")[0]
    return RANKS[name]


GRAPH = {module_name(path): imports(path) for path in PACKAGE.rglob("*.py")}


def test_every_module_has_a_rank():
    for name in GRAPH:
        rank(name)  # KeyError for a module added without a place in the layering


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_go_downward(name):
    upward = sorted(target for target in GRAPH[name] if rank(target) > rank(name))
    assert upward == [], f"{name} (layer {rank(name)}) imports from above: {upward}"


def test_imports_have_no_cycle():
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH.get(name, ())):
            if state.get(target) == "open":
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_the_lowering_and_evaluation_know_no_layer():
    for name in ("wlnet.lower", "wlnet.evaluate", "wlnet.fitting", "wlnet.options", "wlnet.arrays"):
        assert not {t for t in GRAPH[name] if t.startswith(("wlnet.layers", "wlnet.nets"))}, name


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if "kernels" not in p.parts), ids=str)
def test_no_module_outgrows_a_read(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines; split it by responsibility"
