"""Filing benchmark (随办随归), in-process on PostgreSQL.

1. Peak memory: a case with 20 MB of scanned materials is filed in a fresh process, which reports how
   far its peak resident memory rose during the filing (target ≤ 50 MB: files are copied in chunks).
2. Throughput: CASES typical completed cases (two scans of 200 KB and 150 KB, receipt and result
   notice, one handling step) are filed by one worker (target: 1,000 in ≤ 60 s).

Usage: python -m bench.archive [CASES]   (BENCH_DATABASE_URL: a scratch database on 127.0.0.1, wiped)
"""
from __future__ import annotations

import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

from sqlalchemy import select

from bench.intake import PDF, PNG, _prepare

PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # a scan the usability check can open to its end
BIG_SCAN = 10 * 1024 * 1024  # two of these: 20 MB of materials
STEP_DATA = {"search_result": "yes", "decision": "approve", "opinion": "同意", "certificate_no": "Z-1",
             "delivery": "window"}


def _complete_case(n: int, scans: list[bytes], frontdesk, handler) -> None:
    from app.extensions import db
    from app.models import WorkItem
    from app.services.cases.intake import Application, MaterialIn, submit_application
    from app.services.cases.tasks import complete_task

    application = Application(
        item_code="113701000045001234400011700100X",
        applicant={"type": "person", "name": f"测试申请人{n}", "id_number": "11010519491231002X",
                   "phone": "13800138000"},
        form={"record_type": "marriage", "record_holder_name": "张三", "record_year": 1998,
              "holding_archive": "济南市档案馆", "purpose": "办理继承手续", "contact_mobile": "13800138000"},
        materials=[MaterialIn(code="application", filename="application.pdf", content=scans[0]),
                   MaterialIn(code="id_card", filename="id_card.png", content=scans[1])])
    case = submit_application(application, frontdesk).case
    for _step in range(5):
        item = db.session.scalar(select(WorkItem).where(WorkItem.case_id == case.id, WorkItem.state == "open"))
        if item is None:
            return
        complete_task(item.id, handler, STEP_DATA)
    raise SystemExit(f"case {case.case_no} did not finish")


def _seed(app, cases: int) -> None:
    from app.extensions import db
    from app.models import User
    from app.services.cases.documents import store_pending_pdfs

    with app.app_context():
        users = {u.username: u for u in db.session.scalars(select(User))}
        frontdesk, handler = users["frontdesk"], users["handler"]
        big = [b"%PDF-1.4\n" + os.urandom(BIG_SCAN) + b"\n%%EOF\n" for _n in range(2)]
        _complete_case(0, big, frontdesk, handler)  # filed first, in its own process
        db.session.commit()
        started = time.perf_counter()
        for n in range(1, cases + 1):
            _complete_case(n, [PDF + str(n).encode(), PNG + str(n).encode() + PNG_END], frontdesk, handler)
            if n % 100 == 0:
                db.session.commit()
        db.session.commit()
        while store_pending_pdfs(500):  # the documents' PDFs exist before filing, as the job leaves them
            db.session.commit()
        db.session.commit()
        print(f"completed {cases} typical cases and one 20 MB case in {time.perf_counter() - started:.0f} s")


def _measure_one() -> None:
    """Child process: file the first queued package and print the rise of the peak resident memory."""
    from app import create_app
    from app.extensions import db
    from app.services.archive import filing
    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        db.session.execute(select(1))  # connect and import everything before the baseline
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # The resident peak may hide a rise below an earlier peak; the traced heap peak cannot.
        tracemalloc.start()
        started = time.perf_counter()
        outcome = filing.file_due(batch_size=1)
        elapsed = time.perf_counter() - started
        heap_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"20 MB case: {outcome}, {elapsed * 1000:.0f} ms; peak resident memory rose by {(after - before) / 1024:.1f} MB "
          f"({before / 1024:.0f} → {after / 1024:.0f} MB); Python heap peak during filing {heap_peak / 2**20:.1f} MB")


def main() -> None:
    if sys.argv[1:2] == ["--measure-one"]:
        _measure_one()
        return
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    os.environ["ARCHIVE_DIR"] = tempfile.mkdtemp(prefix="bench-archive-")
    app = _prepare()
    _seed(app, cases)
    subprocess.run([sys.executable, "-m", "bench.archive", "--measure-one"], check=True, env=os.environ)

    from app.extensions import db
    from app.services.archive import filing
    with app.app_context():
        started = time.perf_counter()
        outcome = filing.file_due(batch_size=cases + 10)
        elapsed = time.perf_counter() - started
    print(f"{cases} typical cases: {outcome} in {elapsed:.1f} s ({elapsed / cases * 1000:.1f} ms per case)")
    with app.app_context():
        db.session.remove()


if __name__ == "__main__":
    main()
