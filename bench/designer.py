"""Validation benchmark of the process designer: every deployment check of a 200-task BPMN (target ≤ 1 s).

The generated process has TASKS user tasks spread over four department lanes, each with a form and a
working-day limit, an exclusive gateway with conditions after every tenth task, a script task, a
boundary timer and a full diagram (shapes and edges), as a modeller would save it.

Usage: python -m bench.designer [TASKS] [RUNS]   (BENCH_DATABASE_URL: a scratch database on 127.0.0.1, wiped)
"""
from __future__ import annotations

import statistics
import sys
import time

from bench.intake import _prepare

LANES = ("WINDOW", "HOLDING", "USE", "GUIDANCE")
FORMS = ("record_search", "utilisation_review", "certificate_issue", "countersign_opinion")


def generate(tasks: int) -> bytes:
    """A valid process: start → tasks in a row (gateways every tenth) → end, with a diagram."""
    nodes, flows, shapes, lanes = [], [], [], {lane: [] for lane in LANES}
    previous, x = "start", 100
    nodes.append('<bpmn:startEvent id="start" />')
    shapes.append(("start", x, 36, 36))
    lanes[LANES[0]].append("start")
    for n in range(1, tasks + 1):
        task_id, lane = f"task_{n}", LANES[n % len(LANES)]
        x += 150
        nodes.append(
            f'<bpmn:userTask id="{task_id}" name="步骤 {n}"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="formKey" value="{FORMS[n % len(FORMS)]}" />'
            f'<spiffworkflow:property name="stepLimit" value="{1 + n % 3}wd" />'
            "</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>")
        shapes.append((task_id, x, 100, 80))
        lanes[lane].append(task_id)
        flows.append((f"flow_{n}", previous, task_id, None))
        previous = task_id
        if n % 10 == 0:
            gateway, skip = f"gateway_{n}", f"skip_{n}"
            nodes.append(f'<bpmn:exclusiveGateway id="{gateway}" default="flow_{gateway}_on" />')
            nodes.append(f'<bpmn:scriptTask id="{skip}"><bpmn:script>checked_{n} = len(str(decision_{n})) &gt; 0'
                         "</bpmn:script></bpmn:scriptTask>")
            x += 150
            shapes += [(gateway, x, 50, 50), (skip, x + 75, 100, 80)]
            lanes[lane] += [gateway, skip]
            flows += [(f"flow_{gateway}_in", previous, gateway, None),
                      (f"flow_{gateway}_skip", gateway, skip, f'decision_{n} == "skip"'),
                      (f"flow_{gateway}_on", gateway, f"join_{n}", None),
                      (f"flow_{skip}_out", skip, f"join_{n}", None)]
            nodes.append(f'<bpmn:exclusiveGateway id="join_{n}" />')
            x += 150
            shapes.append((f"join_{n}", x, 50, 50))
            lanes[lane].append(f"join_{n}")
            previous = f"join_{n}"
    nodes.append('<bpmn:boundaryEvent id="overdue" attachedToRef="task_1"><bpmn:timerEventDefinition>'
                 '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">working_days_ahead(30)</bpmn:timeDate>'
                 "</bpmn:timerEventDefinition></bpmn:boundaryEvent>")
    nodes.append('<bpmn:endEvent id="end" /><bpmn:endEvent id="end_overdue" />')
    flows += [("flow_end", previous, "end", None), ("flow_overdue", "overdue", "end_overdue", None)]
    lanes[LANES[0]] += ["overdue", "end", "end_overdue"]
    shapes += [("overdue", 268, 36, 36), ("end", x + 150, 36, 36), ("end_overdue", 268, 36, 36)]
    lane_xml = "".join(f'<bpmn:lane id="lane_{lane}" name="{lane}">'
                       + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs) + "</bpmn:lane>"
                       for lane, refs in lanes.items())
    flow_xml = "".join(
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{s}" targetRef="{t}" />' if cond is None else
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{s}" targetRef="{t}"><bpmn:conditionExpression '
        f'xsi:type="bpmn:tFormalExpression">{cond}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        for fid, s, t, cond in flows)
    shape_xml = "".join(f'<bpmndi:BPMNShape id="{sid}_di" bpmnElement="{sid}"><dc:Bounds x="{sx}" y="200" '
                        f'width="{w}" height="{h}" /></bpmndi:BPMNShape>' for sid, sx, w, h in shapes)
    edge_xml = "".join(f'<bpmndi:BPMNEdge id="{fid}_di" bpmnElement="{fid}"><di:waypoint x="0" y="240" />'
                       '<di:waypoint x="10" y="240" /></bpmndi:BPMNEdge>' for fid, *_rest in flows)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
            'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" '
            'targetNamespace="http://bpmn.io/schema/bpmn">\n'
            f'<bpmn:process id="big_process" name="大流程" isExecutable="true"><bpmn:laneSet id="lanes">{lane_xml}'
            f"</bpmn:laneSet>{''.join(nodes)}{flow_xml}</bpmn:process>\n"
            f'<bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="big_process">'
            f"{shape_xml}{edge_xml}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n</bpmn:definitions>\n").encode()


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    app = _prepare()
    xml = generate(tasks)
    from app.services.processes.checks import check_process

    with app.test_request_context():
        first = time.perf_counter()
        check = check_process(xml, "big_process")
        first = time.perf_counter() - first
        if not check.ok:
            raise SystemExit(f"the generated process was refused: {check.summary()}")
        timings = []
        for _run in range(runs):
            started = time.perf_counter()
            check_process(xml, "big_process")
            timings.append(time.perf_counter() - started)
    print(f"BPMN with {len(check.engine.parsed.user_tasks)} user tasks, {len(xml) / 1024:.0f} KiB, "
          f"{len(check.findings)} findings ({len(check.warnings)} warnings)")
    print(f"full validation, first run (cold caches): {first * 1000:.0f} ms")
    print(f"full validation over {runs} runs: median {statistics.median(timings) * 1000:.0f} ms, "
          f"max {max(timings) * 1000:.0f} ms (target ≤ 1000 ms)")


if __name__ == "__main__":
    main()
