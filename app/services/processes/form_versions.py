"""Task forms deployed from the process designer, stored as versions in the database."""
from __future__ import annotations

import hashlib
import json

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict
from app.extensions import db
from app.models import FormVersion, User
from app.shared_cache import cached


class DatabaseForms:
    """The registry's view of deployed forms: the newest version of each key wins."""

    def newest_digest(self, key: str) -> str | None:
        return cached("forms", key, lambda: db.session.scalar(select(FormVersion.sha256).where(FormVersion.form_key == key)
                                 .order_by(FormVersion.version.desc()).limit(1)))

    def schema(self, key: str, digest: str) -> dict:
        return db.session.scalar(select(FormVersion.schema).where(FormVersion.form_key == key,
                                                                  FormVersion.sha256 == digest).limit(1))

    def keys(self) -> list[str]:
        return list(db.session.scalars(select(FormVersion.form_key).distinct()))


def _digest(schema: dict) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def deploy_form(key: str, schema: dict, actor: User | None, process_version_id: int | None) -> FormVersion | None:
    """Store a form as its key's next version; None when it equals the newest one."""
    digest = _digest(schema)
    if DatabaseForms().newest_digest(key) == digest:
        return None
    number = (db.session.scalar(select(func.max(FormVersion.version)).where(FormVersion.form_key == key)) or 0) + 1
    version = FormVersion(form_key=key, version=number, schema=schema, sha256=digest,
                          deployed_by_id=actor.id if actor else None, process_version_id=process_version_id)
    try:
        with db.session.begin_nested():
            db.session.add(version)
    except IntegrityError:
        raise Conflict(_("Form %(form)s was deployed by someone else at the same moment. Try again.", form=key)) from None
    return version


def is_current(key: str, schema: dict) -> bool:
    """Whether this form definition is what the newest deployed version of its key holds."""
    return DatabaseForms().newest_digest(key) == _digest(schema)
