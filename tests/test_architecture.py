"""The architecture as tests: one door for advancing a case, commits only at the edge, services by noun."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
RUNTIME = APP / "services" / "cases" / "runtime.py"
# Batch jobs that commit one unit of work at a time, by design (each says why where it commits).
BATCH_JOBS_THAT_COMMIT = {("services/notices/outbox.py", "deliver_due"), ("services/archive/filing.py", "_file_one")}


def _modules(*folders: str):
    for folder in folders:
        for path in sorted((APP / folder).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _names_in(node: ast.AST) -> set[str]:
    """Every plain name and attribute name mentioned inside a node."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
    return found


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    owner = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(function):
                owner.setdefault(sub, function.name)
    return owner


def test_nothing_but_the_case_runtime_locks_a_case():
    offenders = []
    for path, tree in _modules("."):
        if path == RUNTIME:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "with_for_update" and "Case" in _names_in(node.func.value):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and "FOR UPDATE" in node.value.upper() and "service_case" in node.value:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def _is_case_expression(node: ast.AST) -> bool:
    """`case`, `run.case`, `item.case`, `locked_case`… : an expression that names a case."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "case" in name.lower()


def test_nothing_but_the_case_runtime_sets_a_case_status():
    offenders = []
    for path, tree in _modules("services", "views", "jobs"):
        if path == RUNTIME:
            continue
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AugAssign | ast.AnnAssign) else []
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute) and sub.attr == "status" and _is_case_expression(sub.value):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Case" \
                    and any(keyword.arg == "status" for keyword in node.keywords):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values" \
                    and "Case" in _names_in(node.func.value) and any(k.arg == "status" for k in node.keywords):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_only_the_case_runtime_runs_workflows():
    """The engine's Workflow (load, start, complete, save) is the runtime's; other modules parse and check."""
    offenders = []
    for path, tree in _modules("."):
        if path == RUNTIME or path.is_relative_to(APP / "engine"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "app.engine" \
                    and any(alias.name in ("Workflow", "migrate") for alias in node.names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_commit_in_services_engine_or_models_except_the_batch_jobs():
    offenders = []
    for path, tree in _modules("services", "engine", "models"):
        owner = _enclosing_functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                where = (str(path.relative_to(APP)), owner.get(node, "<module>"))
                if where not in BATCH_JOBS_THAT_COMMIT:
                    offenders.append(f"{where[0]}:{node.lineno} in {where[1]}")
    assert offenders == []


def test_services_are_grouped_by_noun():
    """Only cross-cutting helpers stay flat; everything else lives in its noun's package."""
    flat = sorted(path.name for path in (APP / "services").glob("*.py") if path.name != "__init__.py")
    assert flat == ["housekeeping.py", "query_args.py"]
    for package in ("cases", "processes", "supervision", "archive", "calendar", "org", "accounts", "notices"):
        assert (APP / "services" / package / "__init__.py").is_file(), package


def test_services_do_not_keep_state_in_the_request_context():
    """A service called from a job or the CLI has no request: caching in flask.g belongs to views."""
    offenders = []
    for path, tree in _modules("services"):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask" and any(a.name == "g" for a in node.names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_views_do_not_commit():
    """A request is committed in one place (app/unit_of_work.py), after its view answered."""
    offenders = []
    for path, tree in _modules("views"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
