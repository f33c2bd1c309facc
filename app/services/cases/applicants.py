"""Applicant identity (申请人): persons and organisations, agents, and the returning-applicant register."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import Applicant
from app.models.base import utcnow
from app.taskforms.formats import (
    PERSON_ID_TYPES,
    has_control_characters,
    is_cn_mobile,
    is_cn_uscc,
    is_identity_number,
)

AGENT_KINDS = ("entrusted", "guardian")  # 委托代理人, 监护人
CAPACITIES = ("self", "heir")  # in one's own right, or as heir (继承人) of the person in the records
ORG_ID_TYPE = "uscc"


def _text(raw: dict, key: str, errors: dict[str, str], prefix: str, *, required: bool,
          max_length: int = 200) -> str:
    value = raw.get(key)
    value = value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())
    field = f"{prefix}.{key}"
    if has_control_characters(value):
        errors[field] = _("Contains control characters that cannot be stored.")
    elif required and not value:
        errors[field] = _("This field is required.")
    elif len(value) > max_length:
        errors[field] = _("Must be at most %(n)s characters.", n=max_length)
    return value


def _id_message(id_type: str) -> str:
    return {
        "resident_id": _("Not a valid citizen ID number (居民身份证号码)."),
        "passport": _("Not a valid passport number."),
        "hk_macao_permit": _("Not a valid Mainland Travel Permit for Hong Kong and Macao Residents number."),
        "taiwan_permit": _("Not a valid Mainland Travel Permit for Taiwan Residents number."),
        ORG_ID_TYPE: _("Not a valid unified social credit code."),
    }[id_type]


def _person_id(raw: dict, errors: dict[str, str], prefix: str) -> tuple[str, str]:
    id_type = raw.get("id_type") or "resident_id"
    id_number = _text(raw, "id_number", errors, prefix, required=True, max_length=32).upper()
    if id_type not in PERSON_ID_TYPES:
        errors[f"{prefix}.id_type"] = _("Choose an identity document type.")
    elif id_number and f"{prefix}.id_number" not in errors and not is_identity_number(id_type, id_number):
        errors[f"{prefix}.id_number"] = _id_message(id_type)
    return str(id_type), id_number


def _phone(raw: dict, errors: dict[str, str], prefix: str, *, required: bool) -> str:
    phone = _text(raw, "phone", errors, prefix, required=required, max_length=20)
    if phone and f"{prefix}.phone" not in errors and not is_cn_mobile(phone):
        errors[f"{prefix}.phone"] = _("Not a valid mobile phone number.")
    return phone


def _agent(raw: object, applicant_id: str, errors: dict[str, str]) -> dict | None:
    if raw in (None, "", {}):
        return None
    prefix = "applicant.agent"
    if not isinstance(raw, dict):
        errors[prefix] = _("Must be an object.")
        return None
    kind = raw.get("kind") or "entrusted"
    if kind not in AGENT_KINDS:
        errors[f"{prefix}.kind"] = _("Choose an entrusted agent or a guardian.")
    name = _text(raw, "name", errors, prefix, required=True)
    id_type, id_number = _person_id(raw, errors, prefix)
    if id_number and id_number == applicant_id:
        errors[f"{prefix}.id_number"] = _("The agent must be someone other than the applicant.")
    phone = _phone(raw, errors, prefix, required=False)
    return {"kind": kind, "name": name, "id_type": id_type, "id_number": id_number, "phone": phone or None}


def validate_applicant(raw: dict, errors: dict[str, str]) -> dict:
    """The applicant as it will be stored; problems go into `errors` under `applicant.<field>`."""
    prefix = "applicant"
    kind = raw.get("type")
    if kind not in ("person", "org"):
        errors["applicant.type"] = _("Choose a person or an organisation.")
    name = _text(raw, "name", errors, prefix, required=True)
    legal_representative = None
    capacity = "self"
    if kind == "org":
        id_type = ORG_ID_TYPE
        id_number = _text(raw, "id_number", errors, prefix, required=True, max_length=32).upper()
        if id_number and "applicant.id_number" not in errors and not is_cn_uscc(id_number):
            errors["applicant.id_number"] = _id_message(ORG_ID_TYPE)
        legal_representative = _text(raw, "legal_representative", errors, prefix, required=True)
    else:
        id_type, id_number = _person_id(raw, errors, prefix)
        capacity = raw.get("capacity") or "self"
        if capacity not in CAPACITIES:
            errors["applicant.capacity"] = _("Choose in one's own right or as an heir.")
    phone = _phone(raw, errors, prefix, required=True)
    return {
        "type": kind, "name": name, "id_type": id_type, "id_number": id_number, "phone": phone,
        "legal_representative": legal_representative, "capacity": capacity,
        "agent": _agent(raw.get("agent"), id_number, errors),
    }


def application_conditions(applicant: dict) -> frozenset[str]:
    """Conditions that make more materials required: an agent, a guardian, an heir."""
    conditions = set()
    agent = applicant.get("agent")
    if agent:
        conditions.add("agent" if agent["kind"] == "entrusted" else "guardian")
    if applicant.get("capacity") == "heir":
        conditions.add("heir")
    return frozenset(conditions)


def register_applicant(applicant: dict) -> int:
    """Insert or refresh the applicant in the register (one atomic upsert); returns its id."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    values = {"name": applicant["name"], "phone": applicant["phone"],
              "legal_representative": applicant["legal_representative"], "updated_at": now}
    stmt = insert(Applicant).values(kind=applicant["type"], id_type=applicant["id_type"],
                                    id_number=applicant["id_number"], created_at=now, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["id_type", "id_number"], set_=values)
    return db.session.execute(stmt.returning(Applicant.id)).scalar_one()


def find_applicant(id_number: str) -> dict | None:
    """A returning applicant's details for prefilling the intake form, or None."""
    row = db.session.scalar(select(Applicant).where(Applicant.id_number == id_number.strip().upper())
                            .order_by(Applicant.updated_at.desc()).limit(1))
    if row is None:
        return None
    return {"type": row.kind, "id_type": row.id_type, "id_number": row.id_number, "name": row.name,
            "phone": row.phone, "legal_representative": row.legal_representative}
