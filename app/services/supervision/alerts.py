"""Scheduled supervision (电子监察) rules: warnings before a deadline (事前预警), red alerts and daily
reminders at and after it (事中督办), and the daily audit with the weekly card tally (事后监察).

Each rule reads only the rows near their deadline (indexed due columns), never the whole backlog,
and inserts its alerts with ON CONFLICT DO NOTHING on (subject, rule, level, occurrence): two
scheduler processes, or a rerun after a crash, raise each alert once. Only a newly inserted alert
writes its outbox messages, in the same transaction, so none is lost and none is sent twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload, load_only, selectinload

from app.extensions import db
from app.models import (
    Alert,
    ArchivePackage,
    Case,
    CaseMaterial,
    Department,
    RatingFollowUp,
    User,
    WorkItem,
    user_departments,
)
from app.models.base import utcnow
from app.models.case import FINISHED_STATUSES
from app.services.calendar import workdays
from app.services.cases import intake
from app.services.notices import outbox
from app.services.supervision import cards
from app.services.supervision.rules import (
    ARCHIVE_FILING_FAILED,
    BAD_RATING_NOT_FOLLOWED,
    CASE_DUE_SOON,
    CASE_OVERDUE,
    COMPLETED_LATE,
    COMPLETED_NOT_ARCHIVED,
    OVERDUE_NOT_HANDLED,
    PRE_REVIEW_DUE_SOON,
    PRE_REVIEW_OVERDUE,
    PROMISE_DUE_SOON,
    PROMISE_OVERDUE,
    REFUSED_WITHOUT_REASON,
    STATUTORY_DUE_SOON,
    STATUTORY_OVERDUE,
    TASK_DUE_SOON,
    TASK_OVERDUE,
    TASK_REMINDER,
    WEEKLY_CARDS,
)

RUNNING = ("in_progress",)


@dataclass
class NewAlert:
    subject: str
    rule: str
    level: str
    occurrence: date
    content: str
    case_id: int | None = None
    work_item_id: int | None = None
    department_code: str | None = None
    details: dict = field(default_factory=dict)
    recipients: list[User] = field(default_factory=list)


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _local_day(moment: datetime) -> date:
    return moment.astimezone(_zone()).date()


def warning_moment(start: datetime | None, due: datetime, percent: int, working_days: int) -> datetime:
    """When the yellow light comes on: `working_days` before the deadline or when `percent` % of the
    limit remains, whichever comes first."""
    local = due.astimezone(_zone())
    before = datetime.combine(_working_days_before(local.date(), working_days), local.timetz()).astimezone(due.tzinfo)
    if start is None or start >= due:
        return before
    by_share = due - (due - start) * (percent / 100)
    return min(before, by_share)


def _working_days_before(day: date, n: int) -> date:
    """The n-th working day before `day` (day itself for n = 0)."""
    while n > 0:
        day -= timedelta(days=1)
        n -= workdays.is_working_day(day)
    return day


def _thresholds(item) -> tuple[int, int]:
    config = current_app.config
    days = item.warn_working_days if item.warn_working_days is not None else config["WARN_WORKING_DAYS"]
    percent = item.warn_percent if item.warn_percent is not None else config["WARN_PERCENT"]
    return percent, days


class _Recipients:
    """Who alerts go to, read once per job run: department members and heads, users by role."""

    def __init__(self) -> None:
        self._members: dict[tuple, list[User]] = {}
        self._roles: dict[str, list[User]] = {}
        self._leaders: list[User] | None = None

    def members(self, codes: set[str], heads_only: bool = False) -> list[User]:
        """Enabled users of these departments (or only their heads, 负责人)."""
        if not codes:
            return []
        key = (tuple(sorted(codes)), heads_only)
        if key not in self._members:
            statement = (select(User).join(user_departments, user_departments.c.user_id == User.id)
                         .join(Department, Department.id == user_departments.c.department_id)
                         .where(Department.code.in_(codes), User.is_enabled))
            if heads_only:
                statement = statement.where(user_departments.c.is_head)
            self._members[key] = list(db.session.scalars(statement.distinct()))
        return self._members[key]

    def with_role(self, role: str) -> list[User]:
        if role not in self._roles:
            self._roles[role] = [u for u in db.session.scalars(select(User).where(User.is_enabled)) if u.has_role(role)]
        return self._roles[role]

    def supervisors(self) -> list[User]:
        return self.with_role("supervisor")

    def bureau_leaders(self) -> list[User]:
        """The heads of the top of the organisation tree (局领导)."""
        if self._leaders is None:
            self._leaders = list(db.session.scalars(
                select(User).join(user_departments, user_departments.c.user_id == User.id)
                .join(Department, Department.id == user_departments.c.department_id)
                .where(Department.parent_id.is_(None), user_departments.c.is_head, User.is_enabled).distinct()))
        return self._leaders

    def for_task(self, item: WorkItem, escalate: bool) -> list[User]:
        """The holder, or the department's members; at the deadline its heads and the supervisors too."""
        holders = [item.claimed_by] if item.claimed_by_id else self.members({item.department_code})
        if escalate:
            holders += self.members({item.department_code}, heads_only=True) + self.supervisors()
        return holders


_ALERT_KEY = ("subject", "rule", "level", "occurrence")


def _already_raised(alerts: dict[tuple, NewAlert]) -> set[tuple]:
    """Keys of alerts already raised on these subjects under these rules (a superset of the ones
    asked for): one indexed read, so a rerun writes nothing."""
    subjects = sorted({key[0] for key in alerts})
    rules = sorted({key[1] for key in alerts})
    found: set[tuple] = set()
    for start in range(0, len(subjects), 1000):
        found.update(db.session.execute(
            select(Alert.subject, Alert.rule, Alert.level, Alert.occurrence)
            .where(Alert.subject.in_(subjects[start:start + 1000]), Alert.rule.in_(rules))).all())
    return found


def _raise(alerts: list[NewAlert], now: datetime) -> int:
    """Insert the alerts that are new; write outbox messages for those only, all in the caller's transaction."""
    by_key = {(a.subject, a.rule, a.level, a.occurrence): a for a in alerts}
    for key in _already_raised(by_key) if by_key else ():
        by_key.pop(tuple(key), None)  # earlier occurrences of the same rule come back too
    if not by_key:
        return 0
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Alert.__table__
    # Another scheduler process may raise the same alert between the read above and this insert: the
    # unique key skips it here, and only rows actually inserted come back to get their messages.
    statement = (insert(table).on_conflict_do_nothing(index_elements=list(_ALERT_KEY))
                 .returning(table.c.id, *(table.c[name] for name in _ALERT_KEY)))
    rows = [dict(subject=a.subject, rule=a.rule, level=a.level, occurrence=a.occurrence, case_id=a.case_id,
                 work_item_id=a.work_item_id, department_code=a.department_code, raised_at=now,
                 content=a.content, details=a.details) for a in by_key.values()]
    messages = []
    inserted = db.session.execute(statement, rows).all()
    for alert_id, *key in inserted:
        alert = by_key[tuple(key)]
        messages += outbox.message_rows_for_users(
            alert.recipients, f"[{alert.level}] {alert.rule}", alert.content,
            {"rule": alert.rule, "level": alert.level, "subject": alert.subject, **alert.details}, alert_id)
    outbox.enqueue_rows(messages)
    return len(inserted)


# What the deadline rules read of a case; its workflow state and form data stay in the database.
_CASE_DEADLINE_COLUMNS = (Case.id, Case.case_no, Case.item_id, Case.status, Case.accepted_at, Case.committed_due_at)


def _due_tasks(now: datetime, horizon: timedelta) -> list[WorkItem]:
    """Open steps of running cases due before now + horizon (the partial due index keeps this small)."""
    return list(db.session.scalars(
        select(WorkItem).join(Case, Case.id == WorkItem.case_id)
        .where(WorkItem.state == "open", WorkItem.due_at.is_not(None), WorkItem.due_at <= now + horizon,
               Case.status.in_(RUNNING))
        .options(joinedload(WorkItem.case).load_only(*_CASE_DEADLINE_COLUMNS).selectinload(Case.item),
                 joinedload(WorkItem.claimed_by))))


def check_deadlines(now: datetime | None = None) -> dict:
    """Job (事前 + 事中): yellow warnings before a deadline, red alerts at it, daily reminders after."""
    now = now or utcnow()
    today = _local_day(now)
    horizon = timedelta(days=current_app.config["WARN_HORIZON_DAYS"])
    people = _Recipients()
    alerts: list[NewAlert] = []
    for item in _due_tasks(now, horizon):
        case = item.case
        due_day = _local_day(item.due_at)
        common = dict(subject=f"task:{item.id}", case_id=case.id, work_item_id=item.id,
                      department_code=item.department_code,
                      details={"case_no": case.case_no, "step": item.name, "due_at": item.due_at.isoformat()})
        if item.due_at <= now:
            text = f"{case.case_no} {item.name} 已超过办理时限({item.due_at.astimezone(_zone()):%Y-%m-%d %H:%M})"
            alerts.append(NewAlert(rule=TASK_OVERDUE, level="red", occurrence=due_day, content=text,
                                   recipients=people.for_task(item, True), **common))
            if today > due_day:
                alerts.append(NewAlert(rule=TASK_REMINDER, level="red", occurrence=today, content="催办:" + text,
                                       recipients=people.for_task(item, True), **common))
        elif now >= warning_moment(item.created_at, item.due_at, *_thresholds(case.item)):
            text = f"{case.case_no} {item.name} 将于 {item.due_at.astimezone(_zone()):%Y-%m-%d %H:%M} 到期"
            alerts.append(NewAlert(rule=TASK_DUE_SOON, level="yellow", occurrence=due_day, content=text,
                                   recipients=people.for_task(item, False), **common))
    alerts += _case_deadline_alerts(now, horizon, people.supervisors())
    alerts += _statutory_alerts(now, horizon, _distinct(people.supervisors() + people.bureau_leaders()))
    alerts += _promised_material_alerts(now, people)
    alerts += _pre_review_alerts(now, people)
    return {"checked_until": (now + horizon).isoformat(), "raised": _raise(alerts, now)}


def holding_departments(case_ids: list[int], state: str = "open") -> dict[int, str]:
    """The department holding each case: that of its oldest open step, or (state="completed") of the
    step completed last. Case-level violations count against it."""
    if not case_ids:
        return {}
    order = WorkItem.id.asc() if state == "open" else WorkItem.completed_at.desc()
    rows = db.session.execute(select(WorkItem.case_id, WorkItem.department_code)
                              .where(WorkItem.case_id.in_(case_ids), WorkItem.state == state).order_by(order))
    held: dict[int, str] = {}
    for case_id, code in rows:
        held.setdefault(case_id, code)
    return held


def _case_deadline_alerts(now: datetime, horizon: timedelta, supervisors: list[User]) -> list[NewAlert]:
    cases = list(db.session.scalars(
        select(Case).where(Case.status.in_(RUNNING), Case.committed_due_at.is_not(None),
                           Case.committed_due_at <= now + horizon)
        .options(load_only(*_CASE_DEADLINE_COLUMNS), selectinload(Case.item))))
    held = holding_departments([case.id for case in cases])
    alerts = []
    for case in cases:
        due_day = _local_day(case.committed_due_at)
        common = dict(subject=f"case:{case.id}", case_id=case.id, occurrence=due_day,
                      department_code=held.get(case.id),
                      details={"case_no": case.case_no, "due_at": case.committed_due_at.isoformat()})
        if case.committed_due_at <= now:
            alerts.append(NewAlert(rule=CASE_OVERDUE, level="red", recipients=supervisors,
                                   content=f"{case.case_no} 已超过承诺办结时限", **common))
        elif now >= warning_moment(case.accepted_at, case.committed_due_at, *_thresholds(case.item)):
            alerts.append(NewAlert(rule=CASE_DUE_SOON, level="yellow", recipients=supervisors,
                                   content=f"{case.case_no} 临近承诺办结时限", **common))
    return alerts


def _statutory_alerts(now: datetime, horizon: timedelta, recipients: list[User]) -> list[NewAlert]:
    """The statutory deadline (法定办结时限) watched on its own: a warning before it, a red alert at it."""
    cases = list(db.session.scalars(
        select(Case).where(Case.status.in_(RUNNING), Case.statutory_due_at.is_not(None),
                           Case.statutory_due_at <= now + horizon)
        .options(load_only(*_CASE_DEADLINE_COLUMNS, Case.statutory_due_at), selectinload(Case.item))))
    held = holding_departments([case.id for case in cases])
    alerts = []
    for case in cases:
        due = case.statutory_due_at
        common = dict(subject=f"case:{case.id}", case_id=case.id, occurrence=_local_day(due), recipients=recipients,
                      department_code=held.get(case.id),
                      details={"case_no": case.case_no, "due_at": due.isoformat()})
        if due <= now:
            alerts.append(NewAlert(rule=STATUTORY_OVERDUE, level="red",
                                   content=f"{case.case_no} 已超过法定办结时限({due.astimezone(_zone()):%Y-%m-%d %H:%M})",
                                   **common))
        elif now >= warning_moment(case.accepted_at, due, *_thresholds(case.item)):
            alerts.append(NewAlert(rule=STATUTORY_DUE_SOON, level="yellow",
                                   content=f"{case.case_no} 临近法定办结时限({due.astimezone(_zone()):%Y-%m-%d %H:%M})",
                                   **common))
    return alerts


def _working_day_before(day: date) -> date:
    day -= timedelta(days=1)
    while not workdays.is_working_day(day):
        day -= timedelta(days=1)
    return day


def _promised_material_alerts(now: datetime, people: _Recipients) -> list[NewAlert]:
    """容缺: materials promised at acceptance and not yet brought — a warning on the working day before
    the promised date, an alert once it has passed — to the clerk who took the case in and the supervisors."""
    today = _local_day(now)
    rows = db.session.execute(
        select(CaseMaterial.name, CaseMaterial.promised_date, Case.id, Case.case_no, Case.created_by_id)
        .join(Case, Case.id == CaseMaterial.case_id)
        .where(CaseMaterial.state == "promised", CaseMaterial.promised_date.is_not(None),
               CaseMaterial.promised_date <= today + timedelta(days=7), Case.status.not_in(FINISHED_STATUSES))
        .order_by(CaseMaterial.id)).all()
    clerks = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_({row.created_by_id for row in rows if row.created_by_id})))} if rows else {}
    alerts = []
    for name, promised, case_id, case_no, clerk_id in rows:
        recipients = _distinct(([clerks[clerk_id]] if clerk_id in clerks else []) + people.supervisors())
        common = dict(subject=f"case:{case_id}", case_id=case_id, occurrence=promised, recipients=recipients,
                      details={"case_no": case_no, "material": name, "promised_date": promised.isoformat()})
        if today > promised:
            alerts.append(NewAlert(rule=PROMISE_OVERDUE, level="red",
                                   content=f"{case_no} 容缺材料“{name}”逾期未补交(承诺 {promised.isoformat()})", **common))
        elif today >= _working_day_before(promised):
            alerts.append(NewAlert(rule=PROMISE_DUE_SOON, level="yellow",
                                   content=f"{case_no} 容缺材料“{name}”应于 {promised.isoformat()} 前补交", **common))
    return alerts


def _pre_review_alerts(now: datetime, people: _Recipients) -> list[NewAlert]:
    """第32条: an online application is decided within its pre-review days. A warning on the working day
    before the deadline; at it, an alert, and the case is deemed accepted (its clock starts then)."""
    today = _local_day(now)
    rows = db.session.execute(
        select(Case.id, Case.case_no, Case.pre_review_due_at)
        .where(Case.status == "pre_review", Case.pre_review_due_at.is_not(None), Case.deemed_accepted_at.is_(None),
               Case.pre_review_due_at <= now + timedelta(days=7))
        .order_by(Case.pre_review_due_at)).all()
    recipients = _distinct(people.with_role("front_desk") + people.supervisors()) if rows else []
    alerts = []
    for case_id, case_no, due in rows:
        common = dict(subject=f"case:{case_id}", case_id=case_id, occurrence=_local_day(due), recipients=recipients,
                      details={"case_no": case_no, "due_at": due.isoformat()})
        if due <= now:
            if intake.deem_accepted(case_id, now):
                alerts.append(NewAlert(rule=PRE_REVIEW_OVERDUE, level="red",
                                       content=f"{case_no} 网上申请预审逾期未作决定,视为受理", **common))
        elif today >= _working_day_before(_local_day(due)):
            alerts.append(NewAlert(rule=PRE_REVIEW_DUE_SOON, level="yellow",
                                   content=f"{case_no} 网上申请应于 {due.astimezone(_zone()):%Y-%m-%d %H:%M} 前作出受理决定",
                                   **common))
    return alerts


def _distinct(users: list[User]) -> list[User]:
    return list({user.id: user for user in users}.values())


def daily_audit(now: datetime | None = None) -> dict:
    """Job (事后监察): yesterday's late completions and unreasoned refusals, long-overdue steps, and
    bad ratings whose follow-up is past due — each an alert for the supervisors."""
    now = now or utcnow()
    today = _local_day(now)
    since = now - timedelta(days=current_app.config["AUDIT_LOOKBACK_DAYS"])
    people = _Recipients()
    supervisors = people.supervisors()
    alerts: list[NewAlert] = []
    late = list(db.session.scalars(select(Case).where(
        Case.completed_at >= since, Case.committed_due_at.is_not(None), Case.completed_at > Case.committed_due_at)))
    unreasoned = list(db.session.scalars(select(Case).where(
        Case.completed_at >= since, Case.status == "refused",
        or_(Case.result_reason.is_(None), func.trim(Case.result_reason) == ""))))
    held = holding_departments([case.id for case in late + unreasoned], state="completed")

    def finished_case_alert(case: Case, rule: str, level: str, content: str) -> NewAlert:
        return NewAlert(subject=f"case:{case.id}", rule=rule, level=level, occurrence=_local_day(case.completed_at),
                        case_id=case.id, department_code=held.get(case.id), content=content,
                        recipients=supervisors, details={"case_no": case.case_no})

    alerts += [finished_case_alert(case, COMPLETED_LATE, "yellow", f"{case.case_no} 超时办结") for case in late]
    alerts += [finished_case_alert(case, REFUSED_WITHOUT_REASON, "red", f"{case.case_no} 不予办理未说明理由")
               for case in unreasoned]
    limit = now - timedelta(days=current_app.config["OVERDUE_NOT_HANDLED_DAYS"])
    for item in db.session.scalars(select(WorkItem).join(Case).where(
            WorkItem.state == "open", WorkItem.due_at < limit, Case.status.in_(RUNNING))
            .options(joinedload(WorkItem.case))):
        alerts.append(NewAlert(subject=f"task:{item.id}", rule=OVERDUE_NOT_HANDLED, level="red", occurrence=today,
                               case_id=item.case_id, work_item_id=item.id, department_code=item.department_code,
                               content=f"{item.case.case_no} {item.name} 超期未办", recipients=supervisors,
                               details={"case_no": item.case.case_no}))
    for follow_up in db.session.scalars(select(RatingFollowUp).where(
            RatingFollowUp.status == "open", RatingFollowUp.due_at < now)
            .options(joinedload(RatingFollowUp.rating))):
        case_id = follow_up.rating.case_id
        alerts.append(NewAlert(subject=f"follow_up:{follow_up.id}", rule=BAD_RATING_NOT_FOLLOWED, level="red",
                               occurrence=_local_day(follow_up.due_at), case_id=case_id,
                               content="差评整改逾期未答复", recipients=supervisors, details={}))
    alerts += _unarchived_cases(now, supervisors + people.with_role("archivist"))
    return {"raised": _raise(alerts, now)}


def _unarchived_cases(now: datetime, recipients: list[User]) -> list[NewAlert]:
    """Cases completed more than the grace period ago (within the look-back) without a sealed package."""
    config = current_app.config
    latest = now - timedelta(hours=config["ARCHIVE_AUDIT_GRACE_HOURS"])
    earliest = latest - timedelta(days=config["AUDIT_LOOKBACK_DAYS"])
    sealed = select(ArchivePackage.id).where(ArchivePackage.case_id == Case.id, ArchivePackage.state == "sealed")
    cases = db.session.execute(select(Case.id, Case.case_no, Case.completed_at).where(
        Case.completed_at > earliest, Case.completed_at <= latest, ~sealed.exists()))
    return [NewAlert(subject=f"case:{case_id}", rule=COMPLETED_NOT_ARCHIVED, level="yellow",
                     occurrence=_local_day(completed_at), case_id=case_id, content=f"{case_no} 已办结未归档",
                     recipients=recipients, details={"case_no": case_no}) for case_id, case_no, completed_at in cases]


def raise_filing_failure(case: Case, error: str, now: datetime) -> int:
    """A filing that gave up: a red alert to supervisors and archivists, once per case and day."""
    people = _Recipients()
    alert = NewAlert(subject=f"case:{case.id}", rule=ARCHIVE_FILING_FAILED, level="red", occurrence=_local_day(now),
                     case_id=case.id, content=f"{case.case_no} 归档失败:{error}"[:1000],
                     recipients=people.supervisors() + people.with_role("archivist"), details={"case_no": case.case_no})
    return _raise([alert], now)


def weekly_cards(now: datetime | None = None) -> dict:
    """Job: the red and yellow cards (红牌/黄牌) of each department over the last full week, one card per
    violation (see cards.py), with the officers who held the steps."""
    now = now or utcnow()
    week_start = cards.last_full_week(_local_day(now))
    tally = cards.week_tally(week_start)
    alerts = [NewAlert(subject=f"department:{row.department}", rule=WEEKLY_CARDS, level="info", occurrence=week_start,
                       department_code=row.department,
                       content=f"{row.department} 上周红牌 {row.red} 张,黄牌 {row.yellow} 张",
                       details={"week_start": week_start.isoformat(), "red": row.red, "yellow": row.yellow,
                                "officers": {officer.username: {"red": officer.red, "yellow": officer.yellow}
                                             for officer in tally.officers if officer.department == row.department}})
              for row in tally.departments]
    return {"departments": len(alerts), "raised": _raise(alerts, now)}
