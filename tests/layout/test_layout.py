"""The tree is the architecture: libs/ is what two or more services share, it imports no service,
and no module imports itself back through others. Read from the source (imports parsed, nothing
run), so a move that breaks the rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "uploads", "courses", "agent")
# Modules of libs/ that one service uses, and why they stay: the queries on the structure's
# shared tables stay with that table's owner (libs/store); the worker runtime stays beside the
# jobs table it drains (bench's no-op worker runs it too); the LLM layer is where the spec puts
# it, though only the agent calls models today.
ONE_SERVICE_ON_PURPOSE = {
    "libs.store.concept_search": "queries on the structure's tables, beside their owner",
    "libs.store.progress_outline": "queries on the structure's tables, beside their owner",
    "libs.store.structure_edits": "the author's writes on the structure's tables, beside their owner",
    "libs.jobs.runner": "the worker runtime of the jobs table (bench runs it too)",
    "libs.webhooks.sender": "the worker's sending of the webhook tables' deliveries, beside their owners",
    "libs.llm.errors": "the LLM layer (SPEC: libs holds the providers and the router)",
    "libs.llm.providers": "the LLM layer (SPEC: libs holds the providers and the router)",
    "libs.llm.registry": "the LLM layer (SPEC: libs holds the providers and the router)",
    "libs.llm.router": "the LLM layer (SPEC: libs holds the providers and the router)",
}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from libs.x import y`` counts ``libs.x.y`` when
    that is a module, else ``libs.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    paths = [*REPO.glob("libs/**/*.py"), *REPO.glob("services/**/*.py")]
    modules = {_module(path): path for path in paths}
    return {name: _imports(path, set(modules)) for name, path in modules.items()}


def test_libs_imports_no_service():
    graph = _graph()
    bad = {name: sorted(i for i in imports if i.startswith("services")) for name, imports in graph.items()}
    assert {name: found for name, found in bad.items() if name.startswith("libs") and found} == {}


def test_no_module_imports_itself_back():
    graph = _graph()
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        for target in graph.get(name, ()):
            if target == trail[0]:
                cycles.append([*trail, target])
            elif target not in trail and len(trail) < 12:
                visit(target, [*trail, target])

    for name in graph:
        visit(name, [name])
    assert cycles == []


def test_every_module_of_libs_serves_two_services_or_says_why_not():
    graph = _graph()

    def users(module: str) -> set[str]:
        """The services that import ``module``, directly or through other modules of libs."""
        found, seen, todo = set(), set(), [module]
        while todo:
            current = todo.pop()
            for name, imports in graph.items():
                if current in imports and name not in seen:
                    seen.add(name)
                    if name.startswith("services."):
                        found.add(name.split(".")[1])
                    elif name.startswith("libs."):
                        todo.append(name)
        return found & set(SERVICES)

    lonely = {
        name: sorted(users(name))
        for name in graph
        if name.startswith("libs.") and not name.endswith("__init__") and len(users(name)) < 2
    }
    lonely = {name: found for name, found in lonely.items() if name not in ONE_SERVICE_ON_PURPOSE}
    # packages themselves (their docstrings) and the tools gunicorn and make run by name count
    # for no service
    tools = {"libs.platform.gunicorn_config", "libs.platform.migrate"}
    assert {name: found for name, found in lonely.items() if name.count(".") > 1 and name not in tools} == {}


def test_every_test_module_has_a_name_of_its_own():
    # pytest imports test modules by basename here (the folders are no packages): a second
    # test_x.py anywhere stops the whole collection
    names: dict[str, list[str]] = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
