"""Gap-free serial numbers (case numbers, document numbers) from one atomic upsert."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db


def next_serial(model: type[db.Model], **key: object) -> int:
    """Increment and return the serial of `model` for this key; 1 for a new key.

    Concurrent callers get distinct values: the upsert locks the row until commit. A rolled-back
    transaction gives its value back, so numbers of committed rows stay gap-free and unique.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**key, last_value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={"last_value": model.last_value + 1}
    ).returning(model.last_value)
    return db.session.execute(stmt).scalar_one()
