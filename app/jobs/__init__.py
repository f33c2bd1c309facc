"""The single list of periodic jobs: (id, function, seconds-between-runs config key)."""
from __future__ import annotations

from app.services.archive.filing import file_due
from app.services.cases.documents import store_pending_pdfs
from app.services.cases.materials import remove_orphans
from app.services.cases.timers import fire_due_timers
from app.services.housekeeping import purge_stale_records
from app.services.notices.outbox import deliver_due
from app.services.supervision.alerts import check_deadlines, daily_audit, weekly_cards

JOBS = (
    ("fire_due_timers", fire_due_timers, "TIMER_SWEEP_SECONDS"),
    ("store_document_pdfs", store_pending_pdfs, "TIMER_SWEEP_SECONDS"),
    ("remove_orphan_materials", remove_orphans, "ORPHAN_SWEEP_SECONDS"),
    ("deliver_outbox", deliver_due, "OUTBOX_SWEEP_SECONDS"),
    ("file_completed_cases", file_due, "FILING_SWEEP_SECONDS"),
    # Each run is idempotent (unique alerts), so the daily and weekly rules may run every hour.
    ("check_deadlines", check_deadlines, "SUPERVISION_SWEEP_SECONDS"),
    ("daily_audit", daily_audit, "AUDIT_SWEEP_SECONDS"),
    ("weekly_cards", weekly_cards, "AUDIT_SWEEP_SECONDS"),
    ("purge_stale_records", purge_stale_records, "HOUSEKEEPING_SWEEP_SECONDS"),
)
