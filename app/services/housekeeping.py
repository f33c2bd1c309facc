"""The periodic sweep of what logins and imports leave behind."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from app.extensions import db
from app.models import OrgImportFile
from app.models.base import utcnow
from app.services.accounts import sessions, throttle

# A checked organisation file holds names, e-mails and mobiles: it is kept only while it may be applied.
KEEP_IMPORT_FILES = timedelta(days=1)


def purge_stale_records() -> dict:
    """Expired sessions and tokens, throttle keys without a failure for a day, old checked import files."""
    files = db.session.execute(delete(OrgImportFile).where(
        OrgImportFile.uploaded_at < utcnow() - KEEP_IMPORT_FILES)).rowcount or 0
    return {"sessions_and_tokens": sessions.purge_expired(), "throttle_keys": throttle.purge_stale(),
            "import_files": files}
