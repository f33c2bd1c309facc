"""Spec and state (de)serialization, with parsed specs cached per spec text.

A stored case state holds only the instance (tasks, data, subprocesses); the process spec is
stored once per process version and re-attached on load. This halves the stored size and lets
us keep the deserialized spec objects in memory: specs are read-only while workflows run, so
one spec object is shared by every workflow of that version.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .errors import BpmnError

# Bump the suffix whenever the layout of stored states or specs changes.
SERIALIZER_VERSION = "spiff-3.2/1"
_VERSION_KEY = "serializer_version"
_SPEC_CACHE_SIZE = 64

Specs = tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]


class _StateConverter(BpmnWorkflowConverter):
    """Workflow converter that leaves the specs out of the state and takes them back in on load."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore(self, dct: dict[str, Any], specs: Specs) -> BpmnWorkflow:
        """A workflow rebuilt from a state dict and already deserialized specs."""
        spec, subprocess_specs = specs
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


# The registry is only read after set-up (we never switch it to its encoder mode), so one
# instance is safe to share between threads.
_registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
_state_converter = _StateConverter(BpmnWorkflow, _registry)
_Encoder = create_encoder(_registry)

_spec_cache: OrderedDict[str, Specs] = OrderedDict()
_spec_lock = threading.Lock()


def specs_to_json(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
    """JSON text of a process spec and the subprocess specs it calls."""
    return json.dumps({
        _VERSION_KEY: SERIALIZER_VERSION,
        "spec": _registry.convert(spec),
        "subprocess_specs": {name: _registry.convert(sub) for name, sub in subprocess_specs.items()},
    }, cls=_Encoder, ensure_ascii=False, separators=(",", ":"))


def _specs_from_json(spec_json: str) -> Specs:
    try:
        dct = json.loads(spec_json)
    except (TypeError, ValueError) as exc:
        raise BpmnError(f"The stored process spec is not valid JSON: {exc}") from exc
    if not isinstance(dct, dict) or dct.get(_VERSION_KEY) != SERIALIZER_VERSION:
        found = dct.get(_VERSION_KEY) if isinstance(dct, dict) else None
        raise BpmnError(f"The stored process spec has serializer version {found!r}; "
                        f"this engine reads {SERIALIZER_VERSION!r}. Redeploy the process.")
    try:
        spec = _registry.restore(dct["spec"])
        subprocess_specs = {name: _registry.restore(sub)
                            for name, sub in dct["subprocess_specs"].items()}
    except Exception as exc:  # any corruption of the stored text ends up here
        raise BpmnError(f"The stored process spec cannot be restored: {exc}") from exc
    return spec, subprocess_specs


def specs_for(spec_json: str) -> Specs:
    """Deserialized specs for a spec text, from a small LRU cache keyed by the text itself.

    Keying by the string (not a digest) is cheapest: Python caches a string's hash, and a repeat
    lookup with the same string object is an identity check.
    """
    with _spec_lock:
        specs = _spec_cache.get(spec_json)
        if specs is not None:
            _spec_cache.move_to_end(spec_json)
            return specs
    specs = _specs_from_json(spec_json)  # outside the lock: a rare duplicate parse is harmless
    with _spec_lock:
        _spec_cache[spec_json] = specs
        while len(_spec_cache) > _SPEC_CACHE_SIZE:
            _spec_cache.popitem(last=False)
    return specs


def clear_spec_cache() -> None:
    """Forget every cached spec (for tests and memory pressure)."""
    with _spec_lock:
        _spec_cache.clear()


def state_to_json(workflow: BpmnWorkflow) -> str:
    """JSON text of a workflow's instance state, without its specs."""
    dct = _state_converter.to_dict(workflow)
    dct[_VERSION_KEY] = SERIALIZER_VERSION
    dct["process_id"] = workflow.spec.name
    return json.dumps(dct, cls=_Encoder, ensure_ascii=False, separators=(",", ":"))


def state_from_json(state_json: str, specs: Specs) -> BpmnWorkflow:
    """A workflow restored from its state text and its (cached) specs."""
    try:
        dct = json.loads(state_json)
    except (TypeError, ValueError) as exc:
        raise BpmnError(f"The stored workflow state is not valid JSON: {exc}") from exc
    if not isinstance(dct, dict):
        raise BpmnError("The stored workflow state is not a JSON object.")
    version = dct.pop(_VERSION_KEY, None)
    if version != SERIALIZER_VERSION:
        raise BpmnError(f"The stored workflow state has serializer version {version!r}; "
                        f"this engine reads {SERIALIZER_VERSION!r}. Migrate the state first.")
    process_id = dct.pop("process_id", None)
    if process_id != specs[0].name:
        raise BpmnError(f"The stored workflow state belongs to process {process_id!r}, "
                        f"not to {specs[0].name!r}.")
    try:
        return _state_converter.restore(dct, specs)
    except Exception as exc:  # any corruption of the stored text ends up here
        raise BpmnError(f"The stored workflow state cannot be restored: {exc}") from exc
