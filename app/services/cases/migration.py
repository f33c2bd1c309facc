"""Moving running cases to a newer version of their process: a dry run, then the chosen cases.

Each case moves in its own savepoint under its row lock, so one refusal (or failure) never stops
the others; every attempt, moved or refused, is recorded with its reasons.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import undefer

from app.engine import (
    BpmnError,
    ElementChange,
    MigrationFinding,
    MigrationPlan,
    MigrationRefused,
    WorkflowError,
    plan_migration,
)
from app.errors import ServiceError, ValidationFailed
from app.extensions import db
from app.models import Case, ProcessMigration, ProcessVersion, User
from app.models.case import FINISHED_STATUSES
from app.services.cases.runtime import CaseRun, read_workflow
from app.services.processes.designer import record
from app.services.processes.versions import get_version

MAX_CASES_PER_RUN = 500


@dataclass
class CasePlan:
    """One running case: the version it is on and what moving it would change."""

    case_no: str
    applicant_name: str
    from_version: int
    plan: MigrationPlan

    @property
    def can_move(self) -> bool:
        return self.plan.can_move


@dataclass
class MigrationRun:
    moved: list[str] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)


_FINDINGS = {
    "removed_reached": _l("The case has reached %(subject)s, which the new version no longer has."),
    "active_changed": _l("%(subject)s is in progress and its %(attributes)s changed; finish it on the current "
                         "version first."),
    "branches_changed": _l("The branches of %(subject)s, which the case has already passed, changed."),
    "other_process": _l("The new version belongs to another process (%(subject)s)."),
    "called_process_removed": _l("The case is inside process %(subject)s, which the new version no longer calls."),
    "state_unusable": _l("The moved case could not be read back: %(subject)s"),
    "state_unreadable": _l("The case's stored state cannot be read: %(subject)s"),
    "timer_restarts": _l("The timer %(subject)s starts again from the moment of migration."),
}
_ATTRIBUTES = {"extensions": _l("form or time limit"), "lane": _l("department"), "typename": _l("kind of step"),
               "script": _l("script"), "prescript": _l("script"), "postscript": _l("script")}


def wording(finding: MigrationFinding) -> str:
    """A blocker or note in the user's language."""
    template = _FINDINGS.get(finding.code)
    if template is None:
        return finding.message
    attributes = ", ".join(dict.fromkeys(str(_ATTRIBUTES.get(a, a)) for a in finding.attributes))
    return str(template) % {"subject": finding.subject, "attributes": attributes}


def _changes(changes: list[ElementChange]) -> list[dict]:
    return [{"element_id": c.element_id, "name": c.name, "attributes": list(c.attributes),
             "active": c.active, "reached": c.reached} for c in changes]


def plan_as_dict(plan: MigrationPlan) -> dict:
    """The API shape of a plan."""
    return {"can_move": plan.can_move, "added": _changes(plan.added), "removed": _changes(plan.removed),
            "changed": _changes(plan.changed), "blockers": [wording(f) for f in plan.blockers],
            "notes": [wording(f) for f in plan.notes]}


def _running_cases(target: ProcessVersion, case_nos: list[str] | None) -> list[Case]:
    query = (select(Case).join(ProcessVersion, ProcessVersion.id == Case.process_version_id)
             .where(ProcessVersion.process_id == target.process_id, ProcessVersion.version < target.version,
                    Case.status.not_in(FINISHED_STATUSES))
             .options(undefer(Case.workflow_state)).order_by(Case.id))
    if case_nos is not None:
        query = query.where(Case.case_no.in_(case_nos))
    else:
        query = query.limit(MAX_CASES_PER_RUN)
    return list(db.session.scalars(query))


def _plan(case: Case, target: ProcessVersion) -> MigrationPlan:
    try:
        return plan_migration(read_workflow(case), target.spec_json)
    except BpmnError as exc:  # a state the engine cannot read stays where it is
        return MigrationPlan(blockers=[MigrationFinding("state_unreadable", exc.message, exc.message)])


def dry_run(process_id: str, to_version: int) -> tuple[ProcessVersion, list[CasePlan]]:
    """What moving each running case of older versions to `to_version` would change (nothing is saved)."""
    target = get_version(process_id, to_version)
    versions = dict(db.session.execute(select(ProcessVersion.id, ProcessVersion.version)
                                       .where(ProcessVersion.process_id == process_id)).all())
    return target, [CasePlan(case.case_no, case.applicant_name, versions[case.process_version_id], _plan(case, target))
                    for case in _running_cases(target, None)]


def _case_numbers(case_nos: object) -> list[str]:
    if (not isinstance(case_nos, list) or not case_nos or len(case_nos) > MAX_CASES_PER_RUN
            or not all(isinstance(no, str) and no for no in case_nos)):
        raise ValidationFailed(_("Choose between 1 and %(max)s cases to migrate.", max=MAX_CASES_PER_RUN))
    return list(dict.fromkeys(case_nos))


def _is_older_running(case: Case, target: ProcessVersion) -> bool:
    source = case.process_version
    return (not case.is_finished and source.process_id == target.process_id and source.version < target.version)


def _move(case_no: str, target: ProcessVersion, actor: User, run_record: MigrationRun) -> None:
    """Move one case under its lock, in its own savepoint; refusals and failures are recorded."""
    run = CaseRun.of_case_no(case_no, actor)
    if run is None or not _is_older_running(run.case, target):
        run_record.refused[case_no] = [_("The case is not running on an older version of this process.")]
        return
    case, from_version_id, changes = run.case, run.case.process_version_id, None
    try:
        with db.session.begin_nested():
            changes = plan_as_dict(run.migrate(target))
            run.save()
    except MigrationRefused as exc:
        run_record.refused[case_no] = [wording(reason) for reason in exc.reasons]
    except (ServiceError, WorkflowError, BpmnError) as exc:
        run_record.refused[case_no] = [exc.message]
    else:
        run_record.moved.append(case_no)
    moved = case_no in run_record.moved
    db.session.add(ProcessMigration(
        case_id=case.id, from_version_id=from_version_id, to_version_id=target.id,
        outcome="migrated" if moved else "refused", reasons=run_record.refused.get(case_no),
        changes=changes if moved else None, actor_id=actor.id, actor_name=actor.display_name))


def migrate_cases(process_id: str, to_version: int, case_nos: object, actor: User) -> MigrationRun:
    """Move the chosen cases to `to_version`; each one moves or is refused on its own."""
    target = get_version(process_id, to_version)
    run = MigrationRun()
    for case_no in _case_numbers(case_nos):
        _move(case_no, target, actor, run)
    record(process_id, "cases_migrated", actor, version=target.version, moved=len(run.moved),
           refused=len(run.refused))
    return run


def migrations_to(process_id: str, limit: int = 200) -> list[ProcessMigration]:
    """The newest migration records of a process's cases."""
    return list(db.session.scalars(
        select(ProcessMigration).join(ProcessVersion, ProcessVersion.id == ProcessMigration.to_version_id)
        .where(ProcessVersion.process_id == process_id).order_by(ProcessMigration.id.desc()).limit(limit)))
