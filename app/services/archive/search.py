"""Read side of the archive (档案管理): package search, retention expiry (鉴定) and what a package holds.

Lists read columns with SQL and never load a case's workflow. The filters that narrow most are on
indexed columns: 档号 and case number by prefix (unique indexes), the service item
(service_case.item_id), year and retention (ix_archive_package_year_retention), state. Title and
applicant are "contains" matches: they only narrow what the newest-first page already bounds.
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _
from lxml import etree
from sqlalchemy import and_, case, func, or_, select

from app.archive import metadata as metadata_xml
from app.archive.package import METADATA_NAME
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import ArchivePackage, Case, ServiceItem
from app.models.archive import FILING_STATES
from app.models.item import RETENTION_PERIODS
from app.services.archive import filing
from app.services.query_args import Page, QueryArgs
from app.services.supervision.reports import paged

# Years a package is kept after its 年度; 永久 (Y) is kept for ever and never comes up for appraisal.
RETENTION_YEARS = {"D10": 10, "D30": 30}
YEAR_FORMAT = re.compile(r"[0-9]{4}")
# metadata.xml of a case is a few hundred KB at most; a bigger one is not ours and is not read.
_MAX_METADATA_BYTES = 16 * 1024 * 1024


# ---- Search ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PackageFilters:
    code: str | None = None  # 档号, a prefix
    case_no: str | None = None  # a prefix
    title: str | None = None  # 题名 contains
    applicant: str | None = None  # contains
    item: str | None = None  # 实施编码 of the service item
    year: int | None = None
    retention: str | None = None
    state: str | None = None

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments, for pager links."""
        values = {"code": self.code, "case_no": self.case_no, "title": self.title, "applicant": self.applicant,
                  "item": self.item, "year": self.year, "retention": self.retention, "state": self.state}
        return {name: str(value) for name, value in values.items() if value is not None}


def _year(reader: QueryArgs, name: str) -> int | None:
    value = reader.text(name, 10)
    if value is None:
        return None
    if not YEAR_FORMAT.fullmatch(value):
        reader.errors[name] = _("`%(name)s` must be a year of four digits, such as 2026.", name=name)
        return None
    return int(value)


def parse_filters(args: Mapping[str, str]) -> PackageFilters:
    """The search form's filters; every bad value is collected into one ValidationFailed (422)."""
    reader = QueryArgs(args)
    code = reader.text("code", 80)
    case_no = reader.text("case_no", 50)
    title = reader.text("title", 100)
    applicant = reader.text("applicant", 100)
    item = reader.text("item", 31)
    if item and db.session.scalar(select(ServiceItem.id).where(ServiceItem.code == item)) is None:
        reader.errors["item"] = _("`item` must be the code of a service item.")
        item = None
    year = _year(reader, "year")
    retention = reader.choice("retention", RETENTION_PERIODS)
    state = reader.choice("state", FILING_STATES)
    reader.done()
    # 档号 are upper case (Z109-WS·2026-D10-DAS-0001); a clerk typing "z109" means the same.
    return PackageFilters(code.upper() if code else None, case_no, title, applicant, item, year, retention, state)


def _conditions(filters: PackageFilters) -> list:
    where = []
    if filters.code:
        where.append(ArchivePackage.archival_code.startswith(filters.code, autoescape=True))
    if filters.case_no:
        where.append(Case.case_no.startswith(filters.case_no, autoescape=True))
    if filters.title:
        where.append(ArchivePackage.title.contains(filters.title, autoescape=True))
    if filters.applicant:
        where.append(Case.applicant_name.contains(filters.applicant, autoescape=True))
    if filters.item:
        where.append(ServiceItem.code == filters.item)
    if filters.year is not None:
        where.append(ArchivePackage.year == filters.year)
    if filters.retention:
        where.append(ArchivePackage.retention == filters.retention)
    if filters.state:
        where.append(ArchivePackage.state == filters.state)
    return where


def search(filters: PackageFilters, page: int, per_page: int) -> Page:
    """Packages matching the filters, the newest filing first (queued, sealed and failed alike)."""
    where = _conditions(filters)
    query = (select(ArchivePackage.id, ArchivePackage.archival_code, ArchivePackage.title, ArchivePackage.year,
                    ArchivePackage.retention, ArchivePackage.classification, ArchivePackage.state,
                    ArchivePackage.check_passed, ArchivePackage.sealed_at, Case.case_no,
                    ServiceItem.name.label("item_name"), ServiceItem.name_en.label("item_name_en"))
             .join(Case, Case.id == ArchivePackage.case_id)
             .join(ServiceItem, ServiceItem.id == Case.item_id)
             .where(*where)
             # A package row is made when its case completes, so the id orders by filing; it also
             # keeps pages stable between requests.
             .order_by(ArchivePackage.id.desc()))
    count = (select(func.count(ArchivePackage.id))
             .join(Case, Case.id == ArchivePackage.case_id)
             .join(ServiceItem, ServiceItem.id == Case.item_id)
             .where(*where))
    return paged(query, count, page, per_page)


def item_choices(english: bool) -> list[tuple[str, str]]:
    """(code, name) of every service item, also retired ones: their old cases are still filed."""
    rows = db.session.execute(select(ServiceItem.code, ServiceItem.name, ServiceItem.name_en)
                              .order_by(ServiceItem.code))
    return [(code, name_en if english and name_en else name) for code, name, name_en in rows]


# ---- Retention expiry (鉴定) -------------------------------------------------------------------

def expiry_year(year: int | None, retention: str | None) -> int | None:
    """The last year a package must be kept (it expires at that year's end); None for 永久."""
    if year is None or retention not in RETENTION_YEARS:
        return None
    return year + RETENTION_YEARS[retention]


def parse_until(args: Mapping[str, str], default: int) -> int:
    """`until`: the year by whose end retention has run out; `default` when not given."""
    reader = QueryArgs(args)
    until = _year(reader, "until")
    reader.done()
    return default if until is None else until


def expiry_page(until: int, page: int, per_page: int) -> Page:
    """Sealed packages whose retention ends by the end of `until`, the earliest expiry first."""
    expires = case(*((ArchivePackage.retention == code, ArchivePackage.year + years)
                     for code, years in RETENTION_YEARS.items())).label("expiry_year")
    # One (retention, year ≤ …) pair per period, so each half is a range on the (year, retention) index.
    due = or_(*(and_(ArchivePackage.retention == code, ArchivePackage.year <= until - years)
                for code, years in RETENTION_YEARS.items()))
    where = [ArchivePackage.state == "sealed", due]
    query = (select(ArchivePackage.id, ArchivePackage.archival_code, ArchivePackage.title, ArchivePackage.year,
                    ArchivePackage.retention, ArchivePackage.classification, Case.case_no, expires)
             .join(Case, Case.id == ArchivePackage.case_id)
             .where(*where)
             .order_by(expires, ArchivePackage.archival_code))
    return paged(query, select(func.count(ArchivePackage.id)).where(*where), page, per_page)


# ---- One package ----------------------------------------------------------------------------

def package_by_code(code: str) -> ArchivePackage:
    """The package with this 档号; NotFound for anything else (also a string that is no 档号)."""
    package = None
    if metadata_xml.ARCHIVAL_CODE.fullmatch(code):
        package = db.session.scalar(select(ArchivePackage).where(ArchivePackage.archival_code == code))
    if package is None:
        raise NotFound(_("No archival package has the code %(code)s.", code=code[:80]))
    return package


def filing_of_case(case_id: int) -> ArchivePackage | None:
    """The filing of a case, or None while the case is not completed."""
    return db.session.scalar(select(ArchivePackage).where(ArchivePackage.case_id == case_id))


@dataclass
class PackageContents:
    """What the package's metadata.xml says, or why it could not be read."""

    fields: dict
    files: list[dict]
    problem: str | None = None


def read_contents(package: ArchivePackage) -> PackageContents:
    """Metadata fields and file list from the sealed ZIP itself (not from the database)."""
    path = filing.sealed_file(package)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(METADATA_NAME)
            if info.file_size > _MAX_METADATA_BYTES:
                raise ValueError(f"{METADATA_NAME} is {info.file_size} bytes")
            parsed = metadata_xml.parse(archive.read(info))
    # A damaged or missing file must still show its page: the check report says what is wrong.
    except (OSError, EOFError, KeyError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
            etree.LxmlError) as exc:
        return PackageContents({}, [], _("The package file could not be read: %(error)s", error=str(exc)[:300]))
    for entry in parsed["files"]:
        entry["size"] = int(entry["size"]) if entry["size"].isdigit() else None
    return PackageContents(parsed["fields"], parsed["files"])


def check_failures(report: list[dict] | None) -> list[str]:
    """Codes of the failed checks of a report."""
    return [check["code"] for check in report or () if check.get("result") == "fail"]


def validation_errors(exc: ValidationFailed) -> list[str]:
    """The messages of a refused filter, one per field, for the page's alert."""
    return list(exc.fields.values()) or [exc.message]
