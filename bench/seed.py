"""Benchmark data, written in-process rather than over HTTP.

1. N real cases through the intake service, each waiting at its `record_search` step in HOLDING;
   these are the tasks the load clients complete.
2. A separate department (BULK) with one handler and BULK_ITEMS open work items, each on its own
   case row copied from one real case, inserted with set-based SQL; this is the inbox load.

Usage: python -m bench.seed CASES BULK_ITEMS   (DATABASE_URL must point at the bench database)
"""
from __future__ import annotations

import logging
import sys
import time

from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.models import User
from app.services import org
from app.services.cases.intake import Application, MaterialIn, submit_application

ITEM_CODE = "113701000045001234400011700100X"
BULK_DEPARTMENT = "BULK"
BULK_USER = "bulkhandler"
COMMIT_EVERY = 200


def _application(n: int) -> Application:
    """A valid application; materials are checked on paper so nothing is written to the file store."""
    return Application(
        item_code=ITEM_CODE,
        applicant={"type": "person", "name": f"测试申请人{n}", "id_number": "11010519491231002X",
                   "phone": "13800138000"},
        form={"record_type": "marriage", "record_holder_name": f"测试申请人{n}", "record_year": 1998,
              "holding_archive": "济南市档案馆", "purpose": "性能测试", "contact_mobile": "13800138000"},
        materials=[MaterialIn(code="application"), MaterialIn(code="id_card")],
    )


def seed_cases(count: int) -> int:
    frontdesk = db.session.scalar(select(User).where(User.username == "frontdesk"))
    if frontdesk is None:
        raise SystemExit("user frontdesk missing: run `flask seed-demo` first")
    started = time.perf_counter()
    first_case_id = None
    for n in range(1, count + 1):
        case = submit_application(_application(n), frontdesk).case
        if first_case_id is None:
            first_case_id = case.id
        if n % COMMIT_EVERY == 0:
            db.session.commit()
    db.session.commit()
    open_items = db.session.execute(text(
        "SELECT count(*) FROM work_item WHERE department_code = 'HOLDING' AND state = 'open' "
        "AND bpmn_id = 'record_search'")).scalar_one()
    elapsed = time.perf_counter() - started
    print(f"seeded {count} cases through intake in {elapsed:.1f} s "
          f"({count / elapsed:.0f}/s); open record_search items in HOLDING: {open_items}")
    if open_items < count:
        raise SystemExit("fewer open record_search items than cases: intake did not route as expected")
    return first_case_id


def seed_bulk(template_case_id: int, count: int) -> None:
    org.ensure_department(BULK_DEPARTMENT, "性能测试部", "Benchmark department")
    db.session.flush()
    org.create_user(BULK_USER, org.DEMO_PASSWORD, ["handler"], [BULK_DEPARTMENT], "批量承办人")
    db.session.commit()
    started = time.perf_counter()
    # One case per work item, copied from a real case (state, versions, item); unique case numbers
    # and engine task ids; due dates spread over five days so the inbox ordering has work to do.
    db.session.execute(text("""
        WITH template AS (
            SELECT * FROM service_case WHERE id = :template_id
        ), new_cases AS (
            INSERT INTO service_case (
                case_no, item_id, process_version_id, status, channel, applicant_type, applicant_name,
                applicant_id_number, applicant_phone, form_data, query_code_hash, workflow_state,
                serializer_version, next_timer_at, committed_due_at, statutory_due_at, created_at,
                accepted_at, created_by_id, lock_version)
            SELECT 'BENCH' || lpad(g::text, 10, '0'), t.item_id, t.process_version_id, t.status, t.channel,
                   t.applicant_type, t.applicant_name, t.applicant_id_number, t.applicant_phone,
                   t.form_data, t.query_code_hash, t.workflow_state, t.serializer_version, t.next_timer_at,
                   now() + (g % 7200) * interval '1 minute', t.statutory_due_at, t.created_at,
                   t.accepted_at, t.created_by_id, 1
            FROM template t, generate_series(1, :count) AS g
            RETURNING id, committed_due_at, accepted_at
        )
        INSERT INTO work_item (case_id, task_id, bpmn_id, name, department_code, form_key, state,
                               created_at, due_at)
        SELECT c.id, gen_random_uuid()::text, 'record_search', '档案查询', :department,
               'record_search', 'open', c.accepted_at, c.committed_due_at
        FROM new_cases c
    """), {"template_id": template_case_id, "count": count, "department": BULK_DEPARTMENT})
    db.session.commit()
    elapsed = time.perf_counter() - started
    total = db.session.execute(text(
        "SELECT count(*) FROM work_item WHERE department_code = :d AND state = 'open'"),
        {"d": BULK_DEPARTMENT}).scalar_one()
    print(f"inserted {count} bulk cases and work items in {elapsed:.1f} s; open items in "
          f"{BULK_DEPARTMENT}: {total}")


def analyze() -> None:
    db.session.remove()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    print("analyzed")


def main() -> None:
    cases, bulk_items = int(sys.argv[1]), int(sys.argv[2])
    app = create_app()
    # The app logs every engine task state change at INFO; thousands of intakes need no such trail.
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        template_id = seed_cases(cases)
        seed_bulk(template_id, bulk_items)
        analyze()


if __name__ == "__main__":
    main()
