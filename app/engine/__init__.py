"""Workflow engine: the only package of the app that knows SpiffWorkflow.

Parses BPMN safely, runs scripts and expressions in a restricted sandbox, and stores workflow
states without their (separately stored, cached) process specs.
"""
from .checks import ERROR, WARNING, BpmnCheck, Problem, check_bpmn, parse_bpmn
from .errors import BpmnError, TaskNotReady, WorkflowError, WorkflowTooDeep
from .migration import ElementChange, MigrationFinding, MigrationPlan, MigrationRefused, migrate, plan_migration
from .parsing import MAX_BPMN_BYTES, ParsedProcess, UserTaskInfo
from .sandbox import register_script_function
from .serialization import SERIALIZER_VERSION, clear_spec_cache
from .workflow import MAX_TASK_DEPTH, ReadyTask, Workflow

__all__ = [
    "ERROR", "WARNING", "BpmnCheck", "Problem", "check_bpmn",
    "ElementChange", "MigrationFinding", "MigrationPlan", "MigrationRefused", "migrate", "plan_migration",
    "BpmnError", "TaskNotReady", "WorkflowError", "WorkflowTooDeep",
    "MAX_BPMN_BYTES", "ParsedProcess", "UserTaskInfo", "parse_bpmn",
    "register_script_function", "SERIALIZER_VERSION", "clear_spec_cache",
    "MAX_TASK_DEPTH", "ReadyTask", "Workflow",
]
