"""The package's floors hold: no import circle, and each floor imports only what it may.

Imports are read from the source with :mod:`ast`, at every level (module top, functions,
``if TYPE_CHECKING:`` blocks), so an import made late to keep start-up light still counts.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import pytest

PACKAGE = "plexpin_widget"
ROOT = pathlib.Path(__file__).resolve().parent.parent / PACKAGE
HTTP_MODULES = {"httpx", "httpcore", "h11", "http", "socket", "ssl", "urllib.request", "requests", "asyncio"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in ROOT.rglob("*.py")}


def _imported_names(module: str) -> Iterator[str]:
    """Every dotted name ``module`` imports; ``from x import y`` gives ``x.y`` when that is a
    module of the package, else ``x``."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            origin = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                yield submodule if submodule in MODULES else origin


def _internal_imports(module: str) -> set[str]:
    return {name for name in _imported_names(module) if name in MODULES and name != module}


def _external_imports(module: str) -> set[str]:
    return {name for name in _imported_names(module) if not name.startswith(PACKAGE)}


GRAPH = {module: _internal_imports(module) for module in MODULES}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_graph_is_read() -> None:
    # Guards the test itself: a parser that found nothing would pass every rule below.
    assert f"{PACKAGE}._session" in GRAPH[f"{PACKAGE}._widget"]
    assert f"{PACKAGE}._flow" in GRAPH[f"{PACKAGE}._driving"]
    assert f"{PACKAGE}.emulator._hooks" in GRAPH[f"{PACKAGE}.emulator._app"]
    assert f"{PACKAGE}._client" in GRAPH[f"{PACKAGE}._session"], "function-level imports must count"


def test_cycle_finder_finds_a_circle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle() -> None:
    cycle = _find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_flow_does_no_io() -> None:
    module = f"{PACKAGE}._flow"
    assert GRAPH[module] <= {f"{PACKAGE}._models", f"{PACKAGE}._errors"}
    assert not _external_imports(module) & HTTP_MODULES, "the flow must not do I/O"


def test_the_lowest_floor_knows_nothing_above_it() -> None:
    assert GRAPH[f"{PACKAGE}._models"] == set()
    assert GRAPH[f"{PACKAGE}._errors"] == set()
    assert GRAPH[f"{PACKAGE}._exit_codes"] == set()
    assert GRAPH[f"{PACKAGE}._timeouts"] <= {f"{PACKAGE}._errors"}
    # Shared by the client side and the emulator, so they may lean on nothing else.
    assert GRAPH[f"{PACKAGE}._jwk"] <= {f"{PACKAGE}._errors"}
    assert GRAPH[f"{PACKAGE}._qr"] == set()


def test_the_emulator_stands_apart() -> None:
    for module, targets in GRAPH.items():
        if not module.startswith(f"{PACKAGE}.emulator"):
            continue
        outside = {t for t in targets if not t.startswith(f"{PACKAGE}.emulator")}
        allowed = {f"{PACKAGE}._models", f"{PACKAGE}._jwk", f"{PACKAGE}._qr"}
        assert outside <= allowed, f"{module} imports {sorted(outside)}"


def test_the_jwt_steps_make_no_requests_of_their_own() -> None:
    module = f"{PACKAGE}._device_auth"
    assert GRAPH[module] <= {f"{PACKAGE}._jwk", f"{PACKAGE}._models", f"{PACKAGE}._errors"}
    assert not _external_imports(module) & HTTP_MODULES


@pytest.mark.parametrize(
    "module", [f"{PACKAGE}._widget", f"{PACKAGE}._view", f"{PACKAGE}._mirror", f"{PACKAGE}._marimo"]
)
def test_the_widget_does_no_http(module: str) -> None:
    assert not _external_imports(module) & HTTP_MODULES
    assert f"{PACKAGE}._client" not in GRAPH[module], f"{module} must go through the session or _account"


@pytest.mark.parametrize("driver", [f"{PACKAGE}._driver_async", f"{PACKAGE}._driver_blocking"])
def test_drivers_do_not_know_the_session_or_each_other(driver: str) -> None:
    others = {f"{PACKAGE}._session", f"{PACKAGE}._driver_async", f"{PACKAGE}._driver_blocking"} - {driver}
    assert not GRAPH[driver] & others


def test_the_marimo_view_knows_only_the_view() -> None:
    # It draws display values; the login wires it to the session, never the mirror itself.
    allowed = {f"{PACKAGE}._view", f"{PACKAGE}._qr", f"{PACKAGE}._mirror"}
    for module in (f"{PACKAGE}._mirror", f"{PACKAGE}._marimo"):
        assert GRAPH[module] <= allowed, f"{module} imports {sorted(GRAPH[module] - allowed)}"


def test_the_faces_sit_on_the_session() -> None:
    faces = [f"{PACKAGE}._widget", f"{PACKAGE}._cli_login"]
    for face in faces:
        assert f"{PACKAGE}._session" in GRAPH[face]
        assert not GRAPH[face] & {f"{PACKAGE}._driver_async", f"{PACKAGE}._driver_blocking"}
    for module, targets in GRAPH.items():
        if module.startswith(f"{PACKAGE}._cli") or module == f"{PACKAGE}._demo":
            assert f"{PACKAGE}._widget" not in targets, f"{module}: the terminal never imports the widget"
