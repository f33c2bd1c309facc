"""Service item catalogue (事项)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

CASE_TYPES = ("immediate", "committed")  # 即办件, 承诺件
LIMIT_UNITS = ("working_day", "calendar_day", "hour")
RETENTION_PERIODS = ("Y", "D30", "D10")  # 永久, 30 年, 10 年


class ServiceItem(db.Model):
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # 实施编码: the implementation code, also the prefix of every case number.
    code: Mapped[str] = mapped_column(String(31), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    case_type: Mapped[str] = mapped_column(String(16))
    statutory_limit_value: Mapped[int] = mapped_column(Integer)
    statutory_limit_unit: Mapped[str] = mapped_column(String(16))
    committed_limit_value: Mapped[int] = mapped_column(Integer)
    committed_limit_unit: Mapped[str] = mapped_column(String(16))
    retention: Mapped[str] = mapped_column(String(8))
    classification: Mapped[str] = mapped_column(String(8), default="公开")  # 密级 of its filed cases
    process_id: Mapped[str] = mapped_column(String(100))
    # Form key of the front-desk intake step.
    intake_form: Mapped[str] = mapped_column(String(100))
    # [{"code", "name", "name_en", "required", "key", "required_when", "note"}] in checklist order.
    # key: may not be missing even under 容缺受理; required_when: also required for an agent,
    # guardian or heir application.
    materials: Mapped[list] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    # 办事指南: fees (收费标准) and legal basis (设定依据), shown to the public.
    fee: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    # Department codes of the lanes of the current process version, for the guide.
    departments: Mapped[list] = mapped_column(JSON, default=list)
    # Working days an applicant has to bring a supplement before the case is returned (退件);
    # None: the configured default.
    supplement_days: Mapped[int | None] = mapped_column(Integer)
    # 第32条: an online application is decided within this many working days, or deemed accepted.
    pre_review_days: Mapped[int | None] = mapped_column(Integer)
    # 事前预警 thresholds; None: the configured defaults (1 working day, 20 % of the limit).
    warn_working_days: Mapped[int | None] = mapped_column(Integer)
    warn_percent: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def display_name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name

    def required_material_codes(self, conditions: frozenset[str] = frozenset()) -> list[str]:
        """Codes of the materials required for an application with these conditions (agent, heir …)."""
        return [m["code"] for m in self.materials
                if m.get("required") or conditions.intersection(m.get("required_when") or ())]

    def is_key_material(self, code: str) -> bool:
        """Key materials (by default the required ones) may not be missing under 容缺受理."""
        entry = next((m for m in self.materials if m["code"] == code), {})
        return bool(entry.get("key", entry.get("required")))
