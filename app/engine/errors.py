"""Exceptions raised by the workflow engine package."""
from __future__ import annotations


class BpmnError(Exception):
    """A BPMN document, spec or stored state was refused; `message` is meant for people.

    `code` names the rule that refused it (see `app.engine.checks.Problem`), so the app can
    word the refusal in the user's language.
    """

    def __init__(self, message: str, line: int | None = None, element_id: str | None = None,
                 code: str = "bpmn.invalid") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.element_id = element_id
        self.code = code

    def __str__(self) -> str:
        where = []
        if self.element_id:
            where.append(f"element {self.element_id}")
        if self.line:
            where.append(f"line {self.line}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class TaskNotReady(Exception):
    """The task id is unknown to the workflow, or the task is not waiting to be completed."""


class WorkflowError(Exception):
    """Running the workflow failed (a script, condition or timer expression raised).

    The workflow object is left half-run: discard it and do not save its state.
    """

    def __init__(self, message: str, element_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.element_id = element_id


class WorkflowTooDeep(WorkflowError):
    """The task tree grew close to the engine's iteration depth cap.

    The engine stops walking the task tree at depth 1000, after which READY tasks become
    invisible and the case looks completed. Gateway loops (e.g. many returns 退回) deepen
    the tree every round; we refuse to go on rather than silently lose work.
    """
