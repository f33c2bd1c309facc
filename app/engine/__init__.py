"""Workflow engine: the only package of the app that knows SpiffWorkflow.

Parses BPMN safely, runs scripts and expressions in a restricted sandbox, and stores workflow
states without their (separately stored, cached) process specs.
"""
from .errors import BpmnError, TaskNotReady, WorkflowError, WorkflowTooDeep
from .parsing import MAX_BPMN_BYTES, ParsedProcess, UserTaskInfo, parse_bpmn
from .sandbox import register_script_function
from .serialization import SERIALIZER_VERSION, clear_spec_cache
from .workflow import MAX_TASK_DEPTH, ReadyTask, Workflow

__all__ = [
    "BpmnError", "TaskNotReady", "WorkflowError", "WorkflowTooDeep",
    "MAX_BPMN_BYTES", "ParsedProcess", "UserTaskInfo", "parse_bpmn",
    "register_script_function", "SERIALIZER_VERSION", "clear_spec_cache",
    "MAX_TASK_DEPTH", "ReadyTask", "Workflow",
]
