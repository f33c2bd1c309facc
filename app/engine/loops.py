"""Find loops drawn with sequence flows, which deepen a case's task tree every round (trap 4)."""
from __future__ import annotations

from lxml import etree

_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
# Containers whose sequence flows form one graph: a subprocess is its own graph, so a loop
# inside it is still a loop, while the subprocess itself is one node of its parent's graph.
_CONTAINERS = (f"{_BPMN}process", f"{_BPMN}subProcess", f"{_BPMN}transaction", f"{_BPMN}adHocSubProcess")


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan, iterative), nodes in discovery order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(edges.get(successor, ()))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component, key=index.__getitem__))
    return found


def gateway_loops(root: etree._Element) -> list[list[str]]:
    """Element ids of each loop built from sequence flows, one list per loop, in document order."""
    loops = []
    for container in root.iter(*_CONTAINERS):
        edges: dict[str, list[str]] = {}
        for flow in container.iterchildren(f"{_BPMN}sequenceFlow"):
            source, target = flow.get("sourceRef"), flow.get("targetRef")
            if source and target:
                edges.setdefault(source, []).append(target)
                edges.setdefault(target, [])
        # A boundary event leaves its task without a sequence flow: that step counts too.
        for boundary in container.iterchildren(f"{_BPMN}boundaryEvent"):
            attached, boundary_id = boundary.get("attachedToRef"), boundary.get("id")
            if attached and boundary_id:
                edges.setdefault(attached, []).append(boundary_id)
                edges.setdefault(boundary_id, [])
        loops.extend(_cycles(edges))
    return loops
