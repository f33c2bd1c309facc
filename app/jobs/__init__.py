"""The single list of periodic jobs: (id, function, seconds-between-runs config key)."""
from __future__ import annotations

from app.services.documents import store_pending_pdfs
from app.services.materials import remove_orphans
from app.services.timers import fire_due_timers

JOBS = (
    ("fire_due_timers", fire_due_timers, "TIMER_SWEEP_SECONDS"),
    ("store_document_pdfs", store_pending_pdfs, "TIMER_SWEEP_SECONDS"),
    ("remove_orphan_materials", remove_orphans, "ORPHAN_SWEEP_SECONDS"),
)
