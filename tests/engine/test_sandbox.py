"""The restricted script environment: escapes fail at deploy and, failing that, at run time."""
from __future__ import annotations

import json

import pytest

from app.engine import BpmnError, ParsedProcess, Workflow, WorkflowError, parse_bpmn
from app.engine.sandbox import (
    RestrictedEnvironment,
    ScriptRefused,
    compile_expression,
    compile_script,
    register_script_function,
)

ESCAPE = "().__class__.__base__.__subclasses__()"
HOSTILE_SCRIPTS = {
    "subclasses": f"x = {ESCAPE}",
    "import": "import os\nx = os.getcwd()",
    "from-import": "from os import system",
    "dunder-import": "x = __import__('os')",
    "open": "x = open('/etc/passwd').read()",
    "builtins": "x = __builtins__",
    "builtins-item": "x = __builtins__['open']",
    "format": "x = '{0.__class__}'.format(1)",
    "globals": "x = globals()",
    "lambda-globals": "f = lambda: 0\nx = f.__globals__",
    "generator-frame": "g = (i for i in [1])\nx = g.gi_frame",
    "class": "class A:\n    pass",
    "eval": "x = eval('1')",
    "exec": "exec('x = 1')",
}
HOSTILE_EXPRESSIONS = {
    "subclasses": ESCAPE,
    "import": "__import__('os').system('true')",
    "open": "open('/etc/passwd').read()",
    "builtins": "__builtins__",
    "type": "type(decision).__mro__",
}


def _fails_somewhere(run) -> Exception:
    """Compile and run; the payload must be refused by the compiler or raise when run."""
    with pytest.raises(Exception) as info:
        run()
    return info.value


@pytest.mark.parametrize("script", HOSTILE_SCRIPTS.values(), ids=HOSTILE_SCRIPTS.keys())
def test_hostile_scripts_never_run(script: str) -> None:
    context = {"a": 1}
    _fails_somewhere(lambda: RestrictedEnvironment().execute(script, context))
    assert context == {"a": 1}


@pytest.mark.parametrize("expression", HOSTILE_EXPRESSIONS.values(), ids=HOSTILE_EXPRESSIONS.keys())
def test_hostile_expressions_never_run(expression: str) -> None:
    _fails_somewhere(lambda: RestrictedEnvironment().evaluate(expression, {"decision": "approve"}))


@pytest.mark.parametrize("script", [f"x = {ESCAPE}", "import os", "open('/etc/passwd')",
                                    "x = __builtins__"],
                         ids=["subclasses", "import", "open", "builtins"])
def test_hostile_script_is_refused_at_compile_time(script: str) -> None:
    with pytest.raises(ScriptRefused):
        compile_script(script)


def test_subclasses_escape_in_script_task_is_refused_at_deploy(build) -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(build.script(f"x = {ESCAPE}"), "p")
    assert info.value.element_id == "calc"
    assert "__class__" in info.value.message and info.value.line is not None


def test_subclasses_escape_in_gateway_condition_is_refused_at_deploy(build) -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(build.gateway(f"len({ESCAPE}) > 0"), "p")
    assert info.value.element_id == "gw"
    assert "condition" in info.value.message


@pytest.mark.parametrize("script, words", [
    ("import os", "Imports are not allowed"),
    ("x = open('/etc/passwd').read()", '"open" is not available'),
    ("x = __builtins__", "__builtins__"),
], ids=["import", "open", "builtins"])
def test_hostile_script_task_is_refused_at_deploy(build, script: str, words: str) -> None:
    with pytest.raises(BpmnError) as info:
        parse_bpmn(build.script(script), "p")
    assert info.value.element_id == "calc"
    assert words in info.value.message


def _tampered(parsed: ParsedProcess, benign: str, hostile: str) -> str:
    """The stored spec with a source swapped after deployment (defence in depth)."""
    old, new = json.dumps(benign)[1:-1], json.dumps(hostile)[1:-1]
    assert old in parsed.spec_json
    return parsed.spec_json.replace(old, new)


@pytest.mark.parametrize("hostile", [f"x = {ESCAPE}", "import os", "x = open('/etc/passwd').read()",
                                     "x = __builtins__"],
                         ids=["subclasses", "import", "open", "builtins"])
def test_hostile_script_in_stored_spec_fails_the_workflow(build, hostile: str) -> None:
    parsed = parse_bpmn(build.script("x = a + 1"), "p")
    spec_json = _tampered(parsed, "x = a + 1", hostile)
    wf = Workflow.start(spec_json, {})
    form = wf.ready_user_tasks()[0]
    with pytest.raises(WorkflowError) as info:
        wf.complete_task(form.task_id, {"a": 1})
    assert info.value.element_id == "calc"


def test_hostile_condition_in_stored_spec_fails_the_workflow(build) -> None:
    parsed = parse_bpmn(build.gateway('decision == "approve"'), "p")
    spec_json = _tampered(parsed, 'decision == "approve"', f"len({ESCAPE}) > 0")
    wf = Workflow.start(spec_json, {})
    with pytest.raises(WorkflowError) as info:
        wf.complete_task(wf.ready_user_tasks()[0].task_id, {"decision": "approve"})
    assert "__class__" in info.value.message


def test_normal_script_runs(build) -> None:
    wf = Workflow.start(parse_bpmn(build.script("x = a + 1"), "p").spec_json, {})
    wf.complete_task(wf.ready_user_tasks()[0].task_id, {"a": 41})
    after = wf.ready_user_tasks()[0]
    assert after.bpmn_id == "after"
    assert wf.task_data(after.task_id) == {"a": 41, "x": 42}


def test_script_helpers_and_loops_work(build) -> None:
    script = ("total = 0\nfor n in sorted(values):\n    total += n\n"
              "top = max(values)\nnames = [str(v) for v in values]\nsize = len(values)\n"
              "pair = dict(a=1, b=[min(values), sum(values)])\n"
              "helper = lambda v: v * 2\ndoubled = helper(total)")
    wf = Workflow.start(parse_bpmn(build.script(script), "p").spec_json, {})
    wf.complete_task(wf.ready_user_tasks()[0].task_id, {"values": [3, 1, 2]})
    data = wf.task_data(wf.ready_user_tasks()[0].task_id)
    assert data["total"] == 6 and data["top"] == 3 and data["names"] == ["3", "1", "2"]
    assert data["pair"] == {"a": 1, "b": [1, 6]} and data["doubled"] == 12
    assert "helper" not in data  # functions are dropped, data stays JSON


def test_script_leaving_a_non_json_value_fails(build) -> None:
    wf = Workflow.start(parse_bpmn(build.script("s = {1, 2}"), "p").spec_json, {})
    with pytest.raises(WorkflowError) as info:
        wf.complete_task(wf.ready_user_tasks()[0].task_id, {})
    assert "only JSON values" in info.value.message


def test_script_runtime_error_is_reported_with_element(build) -> None:
    wf = Workflow.start(parse_bpmn(build.script("x = missing + 1"), "p").spec_json, {})
    with pytest.raises(WorkflowError) as info:
        wf.complete_task(wf.ready_user_tasks()[0].task_id, {})
    assert info.value.element_id == "calc" and "missing" in info.value.message


@pytest.mark.parametrize("decision, outcome", [("approve", "yes"), ("refuse", "no")])
def test_conditions_work(build, decision: str, outcome: str) -> None:
    wf = Workflow.start(parse_bpmn(build.gateway('decision == "approve"'), "p").spec_json, {})
    wf.complete_task(wf.ready_user_tasks()[0].task_id, {"decision": decision})
    assert wf.is_completed() and wf.outcome() == outcome


def test_task_data_cannot_override_the_guards() -> None:
    # A form field named like a guard must not replace it.
    value = RestrictedEnvironment().evaluate("x[0]", {"x": [5], "_getitem_": "nope", "__builtins__": {}})
    assert value == 5


def test_compiled_code_is_cached() -> None:
    assert compile_expression("a == 1") is compile_expression("a == 1")
    assert compile_script("b = 2") is compile_script("b = 2")


def test_registered_function_is_offered_to_scripts_and_expressions(build) -> None:
    register_script_function("twice_for_test", lambda n: n * 2)
    assert RestrictedEnvironment().evaluate("twice_for_test(a)", {"a": 4}) == 8
    wf = Workflow.start(parse_bpmn(build.script("x = twice_for_test(a)"), "p").spec_json, {})
    wf.complete_task(wf.ready_user_tasks()[0].task_id, {"a": 21})
    assert wf.task_data(wf.ready_user_tasks()[0].task_id)["x"] == 42
    # Task data of the same name wins over the function, as for any builtin.
    assert RestrictedEnvironment().evaluate("twice_for_test", {"twice_for_test": 1}) == 1


@pytest.mark.parametrize("name", ["len", "open", "_hidden", "not a name"])
def test_builtin_or_bad_names_cannot_be_registered(name: str) -> None:
    with pytest.raises(ValueError):
        register_script_function(name, lambda: None)
