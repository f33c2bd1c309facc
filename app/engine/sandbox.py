"""Restricted execution of BPMN scripts and expressions.

SpiffWorkflow's default script engine runs plain `eval`/`exec` with full builtins, so a process
designer (or anyone able to deploy a BPMN file) could run arbitrary code. Here every script and
expression is compiled with RestrictedPython, which rejects imports, dunder and underscore names
at compile time and routes attribute, item and iteration access through guards at run time.
Builtins are a short whitelist; there is no `open`, `__import__`, `getattr`, `type` or `eval`.

Limits: there is no time or memory limit. Scripts come from deployed process versions, which
only process designers can publish; keep scripts to small data shaping.
"""
from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import RestrictingNodeTransformer
from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

# Line numbers in engine error messages are looked up by this pseudo file name.
_FILENAME = "<string>"
_MAX_RANGE = 100_000
_MAX_DATA_DEPTH = 64


def _limited_range(*args: int) -> range:
    """range() capped in length, so a script cannot build a huge list by accident."""
    result = range(*args)
    if len(result) > _MAX_RANGE:
        raise ValueError(f"range() longer than {_MAX_RANGE} is not allowed in scripts")
    return result


_SAFE_BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False,
    "abs": abs, "all": all, "any": any, "bool": bool, "dict": dict, "enumerate": enumerate,
    "float": float, "int": int, "isinstance": isinstance, "len": len, "list": list, "max": max,
    "min": min, "range": _limited_range, "round": round, "sorted": sorted, "str": str, "sum": sum,
    "zip": zip,
    "Exception": Exception, "ValueError": ValueError, "KeyError": KeyError,
    "TypeError": TypeError, "IndexError": IndexError, "ZeroDivisionError": ZeroDivisionError,
}

_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """Augmented assignment (`n += 1`) as rewritten by the restricted compiler."""
    try:
        return _INPLACE_OPERATORS[op](target, value)
    except KeyError:
        raise SyntaxError(f"operator {op} is not allowed in scripts") from None


def _apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Calls written with *args/**kwargs, as rewritten by the restricted compiler."""
    return function(*args, **kwargs)


# Names the restricted compiler's rewritten code calls; they always override task data.
_GUARDS: dict[str, Any] = {
    "__builtins__": _SAFE_BUILTINS,
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_write_": full_write_guard,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": _inplacevar,
    "_apply_": _apply,
}


# Dangerous builtins left out of the whitelist; naming one is refused at deploy time rather than
# failing with a NameError in the middle of a case. Common words that could be task data names
# (type, input, object...) are not listed: they are simply not defined in the sandbox.
_FORBIDDEN_NAMES = frozenset({
    "open", "eval", "exec", "compile", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "hasattr", "super", "breakpoint", "memoryview", "classmethod", "staticmethod",
    "exit", "quit", "print",
})


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus refusing at compile time what could only fail later."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _FORBIDDEN_NAMES:
            self.error(node, f'"{node.id}" is not available in scripts.')
        return super().visit_Name(node)

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "Imports are not allowed.")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "Imports are not allowed.")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "Class definitions are not allowed.")
        return node


class ScriptRefused(SyntaxError):
    """The restricted compiler refused a script or expression; `reason` lists why."""

    def __init__(self, errors: tuple[str, ...]) -> None:
        self.reason = "; ".join(errors) or "refused"
        super().__init__(self.reason)


@lru_cache(maxsize=2048)
def compile_script(source: str) -> CodeType:
    """Restricted bytecode of a script; ScriptRefused when refused."""
    result = compile_restricted_exec(source, _FILENAME, policy=_Policy)
    if result.errors or result.code is None:
        raise ScriptRefused(tuple(result.errors))
    return result.code


@lru_cache(maxsize=2048)
def compile_expression(source: str) -> CodeType:
    """Restricted bytecode of an expression; ScriptRefused when refused."""
    result = compile_restricted_eval(source.strip(), _FILENAME, policy=_Policy)
    if result.errors or result.code is None:
        raise ScriptRefused(tuple(result.errors))
    return result.code


def refusal_reason(source: str, *, expression: bool) -> str | None:
    """Why the restricted compiler refuses this source, or None when it compiles."""
    try:
        (compile_expression if expression else compile_script)(source)
    except ScriptRefused as exc:
        return exc.reason
    return None


def _json_problem(value: Any, depth: int = 0) -> str | None:
    kind = type(value)
    if value is None or kind in (str, bool, int):
        return None
    if kind is float:
        return None if math.isfinite(value) else "a non-finite number"
    if depth > _MAX_DATA_DEPTH:
        return "a structure nested too deeply"
    if kind is list:
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return "a dictionary with a non-text key"
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return f"a value of type {kind.__name__}"


def ensure_json_data(data: dict[str, Any]) -> None:
    """Raise ValueError unless data is a dict of text keys to plain JSON values."""
    if type(data) is not dict:
        raise ValueError("task data must be a dictionary")
    for key, value in data.items():
        if type(key) is not str:
            raise ValueError("task data keys must be text")
        problem = _json_problem(value)
        if problem:
            raise ValueError(f"task data '{key}' holds {problem}; only JSON values are allowed")


def register_script_function(name: str, function: Callable[..., Any]) -> None:
    """Offer an app function to every BPMN script and expression, e.g. a working-day deadline.

    Functions sit with the safe builtins, so task data of the same name shadows them; a name
    already taken by a builtin is refused rather than silently replaced.
    """
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"{name!r} is not a public function name")
    if name in _FORBIDDEN_NAMES or _SAFE_BUILTINS.get(name, function) is not function:
        raise ValueError(f"{name!r} is already a builtin of the script environment")
    _SAFE_BUILTINS[name] = function


class RestrictedEnvironment(TaskDataEnvironment):
    """Task-data environment that evaluates and executes through the restricted compiler."""

    def __init__(self) -> None:
        # Helpers live in the restricted builtins, so task data may reuse their names freely.
        super().__init__({})

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        """Value of an expression (condition, timer, cardinality) over the task data."""
        namespace = {**(external_context or {}), **context, **_GUARDS}
        return eval(compile_expression(expression), namespace)  # restricted bytecode only

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        """Run a script over the task data, keeping only JSON values it leaves behind."""
        external = external_context or {}
        namespace = {**external, **context, **_GUARDS}
        exec(compile_script(script), namespace)  # restricted bytecode only
        result = {
            key: value for key, value in namespace.items()
            if key not in _GUARDS and key not in external and not callable(value)
            and not (key.startswith("_") and key not in context)
        }
        ensure_json_data(result)
        context.clear()
        context.update(result)
        return True

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        """Service tasks are not supported: the app calls external systems itself."""
        raise NotImplementedError("service tasks are not supported")


class RestrictedScriptEngine(PythonScriptEngine):
    """Script engine whose environment is restricted; stateless, so one instance is shared."""

    def __init__(self) -> None:
        super().__init__(environment=RestrictedEnvironment())

    def validate(self, expression: str) -> None:
        """Refuse an expression the restricted compiler refuses."""
        compile_expression(expression)

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        """Engine error for a failed script; the base version breaks on non-text error args."""
        if isinstance(err, SpiffWorkflowException):
            return super().create_task_exec_exception(task, script, err)
        line, text = 0, ""
        if not isinstance(err, SyntaxError):  # a refused script has no frame to point at
            line, text = self.get_error_line_number_and_content(script, err)
        return WorkflowTaskException(f"{type(err).__name__}: {err}", task=task, exception=err,
                                     line_number=line or None, error_line=text or None)


SCRIPT_ENGINE = RestrictedScriptEngine()
