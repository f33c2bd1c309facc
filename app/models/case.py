"""Cases (办件), their materials and the daily case-number serials."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.item import ServiceItem
from app.models.process import ProcessVersion

# pre_review: submitted (online, or supplemented) and waiting for the window's intake decision (预审).
CASE_STATUSES = ("pre_review", "in_progress", "pending_supplement", "suspended",
                 "completed", "refused", "withdrawn", "returned")
FINISHED_STATUSES = ("completed", "refused", "withdrawn", "returned")
# promised: missing under 容缺受理, with a promised date; superseded: replaced by a later supplement.
MATERIAL_STATES = ("received", "promised", "superseded")


class Case(db.Model):
    __tablename__ = "service_case"
    __table_args__ = (
        Index("ix_case_status_accepted", "status", "accepted_at"),
        # The front desk's landing page: the cases a clerk took in today.
        Index("ix_case_created_by_at", "created_by_id", "created_at"),
        CheckConstraint(f"status IN {CASE_STATUSES!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(50), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("service_item.id"), index=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default="pre_review")  # every case starts at the window
    # 办结结果: granted / refused / withdrawn …, set when the case ends.
    result: Mapped[str | None] = mapped_column(String(24))
    result_reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16), default="window")
    # The applicant as submitted (a snapshot: the applicant register may change later).
    applicant_id: Mapped[int | None] = mapped_column(ForeignKey("applicant.id"), index=True)
    applicant_type: Mapped[str] = mapped_column(String(8))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_id_type: Mapped[str] = mapped_column(String(24), default="resident_id")
    applicant_id_number: Mapped[str] = mapped_column(String(32), index=True)
    applicant_phone: Mapped[str | None] = mapped_column(String(20))
    applicant_legal_representative: Mapped[str | None] = mapped_column(String(200))
    # self, or heir (继承人) applying for a deceased person's records.
    applicant_capacity: Mapped[str] = mapped_column(String(16), default="self")
    # 代理人 / 监护人: {"kind", "name", "id_type", "id_number", "phone"} or None.
    agent: Mapped[dict | None] = mapped_column(JSON)
    # A form's one-time token (or an API Idempotency-Key): a double submission finds the same case.
    submission_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    form_data: Mapped[dict] = mapped_column(JSON, default=dict)
    # 查询密码, kept only as a keyed hash.
    query_code_hash: Mapped[str] = mapped_column(String(255))
    # Engine state without the spec; the spec lives once on the process version.
    workflow_state: Mapped[str] = deferred(mapped_column(Text))
    serializer_version: Mapped[str] = mapped_column(String(32))
    # Earliest due BPMN timer, so the timer job touches only cases that need it.
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    committed_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    statutory_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # 挂起 / 特别程序: why and until when the case is paused (type: hearing, testing, expert_review …).
    suspension_type: Mapped[str | None] = mapped_column(String(24))
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspension_expected_end: Mapped[date | None] = mapped_column(Date)
    # The case clock (办理时限): paused while waiting for a supplement, suspended or in a special
    # procedure; the due times move by the working days paused, and an approved extension adds days.
    clock_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_working_days: Mapped[int] = mapped_column(Integer, default=0)
    extension_working_days: Mapped[int] = mapped_column(Integer, default=0)
    # When a one-time notice (补正告知) lapses and the case is returned (退件) without a supplement.
    supplement_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An online application's pre-review deadline (第32条), and when it passed undecided (逾期视为受理).
    pre_review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deemed_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The hash of the case's newest event: the next event chains to it without reading the log.
    event_tip: Mapped[str | None] = mapped_column(String(64))
    # Optimistic guard in addition to the row lock: a stale save is refused, never merged. Every
    # unit of work on the case moves it (it records at least one event, so event_tip changes).
    lock_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    item: Mapped[ServiceItem] = relationship()
    process_version: Mapped[ProcessVersion] = relationship()
    materials: Mapped[list[CaseMaterial]] = relationship(
        back_populates="case", order_by="CaseMaterial.id", cascade="all, delete-orphan"
    )
    documents = relationship("CaseDocument", order_by="CaseDocument.id", viewonly=True)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class CaseMaterial(db.Model):
    """A material received at intake: checked on paper, scanned, or both."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="received")
    promised_date: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    case: Mapped[Case] = relationship(back_populates="materials")


class CaseSerial(db.Model):
    """Last serial issued per item and local day; the upsert on it makes numbers unique."""

    item_code: Mapped[str] = mapped_column(String(31), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class QueryGuard(db.Model):
    """Wrong query passwords per case, so guessing is stopped after a few tries (查询锁定)."""

    case_id: Mapped[int] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
