"""Run the jobs of JOBS with APScheduler, each in an app context and one transaction."""
from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from app.clock import frozen_at
from app.extensions import db

log = logging.getLogger(__name__)


def _run_job(app: Flask, job_id: str, function) -> None:
    with app.app_context():
        try:
            result = function()
            db.session.commit()
            log.debug("job %s done: %s", job_id, result)
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", job_id)
        finally:
            db.session.remove()


def _add_jobs(scheduler, app: Flask) -> None:
    from app.jobs import JOBS

    for job_id, function, interval_key in JOBS:
        scheduler.add_job(_run_job, "interval", seconds=app.config[interval_key], id=job_id,
                          args=(app, job_id, function), max_instances=1, coalesce=True)


def start_in_process_scheduler(app: Flask) -> None:
    """Start jobs inside the dev server when SCHEDULER_IN_PROCESS=1 (only in the reloader's child)."""
    if not app.config["SCHEDULER_IN_PROCESS"] or app.testing:
        return
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return  # the reloader's parent process would run every job twice
    scheduler = BackgroundScheduler(timezone=app.config["TIMEZONE"], daemon=True)
    _add_jobs(scheduler, app)
    scheduler.start()
    app.extensions["scheduler"] = scheduler


def run_blocking_scheduler(app: Flask) -> None:
    """`flask scheduler`: run jobs in the foreground until interrupted."""
    scheduler = BlockingScheduler(timezone=app.config["TIMEZONE"])
    _add_jobs(scheduler, app)
    log.info("scheduler started with %d jobs", len(scheduler.get_jobs()))
    scheduler.start()


def run_job_once(app: Flask, job_id: str, at: datetime | None = None):
    """`flask jobs run`: one job in its own app context and transaction, as if at `at`; returns its result.

    LookupError for an unknown id; a failing job is rolled back and its exception raised again.
    """
    from app.jobs import JOBS

    functions = {known: function for known, function, _interval in JOBS}
    if job_id not in functions:
        raise LookupError(job_id)
    with app.app_context():
        try:
            # The commit stays inside the frozen clock: onupdate timestamps are set when it flushes.
            with frozen_at(at) if at is not None else nullcontext():
                result = functions[job_id]()
                db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", job_id)
            raise
        finally:
            db.session.remove()
    return result
