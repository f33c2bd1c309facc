"""Transfer batches (移交进馆): sealed packages with their transfer list (移交清单), and their verification.

A batch is one ZIP:

    移交清单.xml          the list a receiving archive reads (see below)
    移交清单.xlsx         the same list for people (one summary row, a heading row, one row per 件)
    manifest-sha256.txt   SHA-256 of the two list files ("<digest>  <name>" per line)
    packages/<档号>.zip   every package of the list, byte for byte as sealed

    <移交清单>
      <移交单位/> <全宗号/> <年度/> <保管期限/>(永久, 30年, 10年 or 全部) <件数/> <生成时间/>
      <档案> 序号, 档号, 题名, 年度, 保管期限, 密级, 办件编号, 事项名称, 文件数,
             大小 (单位="字节"), 数字摘要 (算法="SHA-256")          — one per package, by 档号
    </移交清单>

Nothing here touches the database or the app's config: a receiving archive runs `verify_batch`
on the batch alone. Packages are copied and hashed in chunks, so a year of scans never sits in memory.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from lxml import etree
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from app.archive import checks
from app.archive.formats import safe_xml_parser
from app.archive.metadata import ARCHIVAL_CODE, RETENTION_LABELS
from app.archive.package import CHUNK

LIST_XML = "移交清单.xml"
LIST_XLSX = "移交清单.xlsx"
LIST_MANIFEST = "manifest-sha256.txt"
LIST_FILES = (LIST_XML, LIST_XLSX)
PACKAGES_DIR = "packages"
ALL_RETENTIONS = "全部"
SUMMARY_TAGS = ("移交单位", "全宗号", "年度", "保管期限", "件数", "生成时间")
LIST_COLUMNS = ("序号", "档号", "题名", "年度", "保管期限", "密级", "办件编号", "事项名称", "文件数", "大小(字节)",
                "SHA-256")
# A list of even 100 000 件 is a few tens of MB; anything far larger is not a list but an attack.
_MAX_LIST_BYTES = 256 * 1024 * 1024
# Checks the batch adds to each package's 四性检测 report.
PRESENT, AGREES = "TRF-01", "TRF-02"


class TransferProblem(Exception):
    """The batch cannot be written (nothing selected, a package missing or changed since sealing)."""


@dataclass
class ListedPackage:
    """One 档案 of the transfer list. `source` is the sealed file when writing; None when read from a list."""

    archival_code: str
    title: str
    year: int
    retention: str  # Y / D30 / D10
    classification: str
    case_no: str
    item_name: str
    file_count: int
    size: int
    sha256: str
    source: Path | None = None


@dataclass
class TransferSummary:
    """The list's summary: who transfers which 全宗, 年度 and 保管期限 (None: every class)."""

    transferring_unit: str
    fonds_code: str
    year: int
    retention: str | None
    count: int
    generated_at: str  # ISO instant, local time with offset

    @property
    def retention_label(self) -> str:
        return RETENTION_LABELS[self.retention] if self.retention else ALL_RETENTIONS


@dataclass
class BatchWritten:
    count: int
    list_sha256: str  # of 移交清单.xml: names the batch's content in the export log


# Writing

def write_batch(target: BinaryIO, summary: TransferSummary, packages: Sequence[ListedPackage]) -> BatchWritten:
    """Write the batch ZIP into `target` (a seekable binary file). TransferProblem leaves it incomplete:
    the caller discards it."""
    if not packages:
        raise TransferProblem("nothing to transfer: the selection holds no sealed package")
    codes = [package.archival_code for package in packages]
    if len(set(codes)) != len(codes) or codes != sorted(codes):
        raise TransferProblem("the packages must be given once each, ordered by 档号")
    if summary.count != len(packages):
        raise TransferProblem(f"the summary counts {summary.count} packages but {len(packages)} are given")
    stamp = datetime.fromisoformat(summary.generated_at).timetuple()[:6]
    list_xml, list_xlsx = build_list_xml(summary, packages), build_list_xlsx(summary, packages)
    manifest = "".join(f"{hashlib.sha256(content).hexdigest()}  {name}\n"
                       for name, content in ((LIST_XML, list_xml), (LIST_XLSX, list_xlsx)))
    with zipfile.ZipFile(target, "w", allowZip64=True) as batch:
        # The list first: a receiver can read it without scanning past gigabytes of packages.
        batch.writestr(_entry(LIST_XML, stamp, zipfile.ZIP_DEFLATED), list_xml)
        batch.writestr(_entry(LIST_XLSX, stamp, zipfile.ZIP_STORED), list_xlsx)  # already a ZIP
        batch.writestr(_entry(LIST_MANIFEST, stamp, zipfile.ZIP_DEFLATED), manifest.encode())
        for package in packages:
            _copy_package(batch, package, stamp)
    return BatchWritten(len(packages), hashlib.sha256(list_xml).hexdigest())


def _entry(name: str, stamp: tuple, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, stamp)
    info.compress_type = compression
    info.external_attr = 0o444 << 16  # read-only once unpacked, like the sealed packages
    return info


def _copy_package(batch: zipfile.ZipFile, package: ListedPackage, stamp: tuple) -> None:
    """Copy one sealed package in chunks, hashing on the way: a package altered or truncated on disk
    since sealing stops the export rather than travel to the archive under its sealed digest."""
    if package.source is None:
        raise TransferProblem(f"{package.archival_code}: no package file given")
    try:
        source = package.source.open("rb")
    except OSError as exc:
        raise TransferProblem(f"{package.archival_code}: the package file cannot be read ({exc})") from None
    digest, size = hashlib.sha256(), 0
    name = f"{PACKAGES_DIR}/{package.archival_code}.zip"
    with source, batch.open(_entry(name, stamp, zipfile.ZIP_STORED), "w", force_zip64=True) as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    if digest.hexdigest() != package.sha256 or size != package.size:
        raise TransferProblem(f"{package.archival_code}: the package file differs from the sealed package "
                              "(SHA-256); run `flask archive verify` and restore it before the transfer")


def _row(number: int, package: ListedPackage) -> list:
    return [number, package.archival_code, package.title, package.year, RETENTION_LABELS[package.retention],
            package.classification, package.case_no, package.item_name, package.file_count, package.size,
            package.sha256]


def _summary_pairs(summary: TransferSummary) -> list[tuple[str, object]]:
    values = (summary.transferring_unit, summary.fonds_code, summary.year, summary.retention_label, summary.count,
              summary.generated_at)
    return list(zip(SUMMARY_TAGS, values, strict=True))


def build_list_xml(summary: TransferSummary, packages: Sequence[ListedPackage]) -> bytes:
    root = etree.Element("移交清单")
    for tag, value in _summary_pairs(summary):
        etree.SubElement(root, tag).text = str(value)
    for number, package in enumerate(packages, 1):
        entry = etree.SubElement(root, "档案")
        values = dict(zip(LIST_COLUMNS, _row(number, package), strict=True))
        for tag in LIST_COLUMNS[:9]:
            etree.SubElement(entry, tag).text = str(values[tag])
        etree.SubElement(entry, "大小", 单位="字节").text = str(package.size)
        etree.SubElement(entry, "数字摘要", 算法="SHA-256").text = package.sha256
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def build_list_xlsx(summary: TransferSummary, packages: Sequence[ListedPackage]) -> bytes:
    """Row 1: the summary as label/value pairs; row 2: column headings; then one row per 件."""
    workbook = Workbook(write_only=True)  # rows stream to the file: a long list stays small in memory
    sheet = workbook.create_sheet("移交清单")
    for column, width in zip("ABCDEFGHIJK", (6, 30, 40, 6, 8, 6, 22, 24, 6, 12, 66), strict=True):
        sheet.column_dimensions[column].width = width
    bold = Font(bold=True)

    def heading(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        return cell

    sheet.append([cell for tag, value in _summary_pairs(summary) for cell in (heading(tag), value)])
    sheet.append([heading(column) for column in LIST_COLUMNS])
    for number, package in enumerate(packages, 1):
        sheet.append(_row(number, package))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# Reading and verifying

@dataclass
class PackageVerdict:
    """One listed package: its 四性检测 report plus the batch's own checks (TRF-01, TRF-02)."""

    archival_code: str
    report: list[dict]

    @property
    def ok(self) -> bool:
        return checks.passed(self.report)


@dataclass
class BatchReport:
    summary: dict[str, str] = field(default_factory=dict)
    packages: list[PackageVerdict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # batch-level: the list, its manifest, stray files

    @property
    def ok(self) -> bool:
        return not self.problems and all(verdict.ok for verdict in self.packages)


class _ListUnreadable(Exception):
    pass


def parse_list(document: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The list's summary and its 档案 rows (as text); _ListUnreadable when it is not a transfer list."""
    try:
        tree = etree.ElementTree(etree.fromstring(document, safe_xml_parser()))
    except etree.XMLSyntaxError as exc:
        raise _ListUnreadable(f"{LIST_XML} does not parse: {exc}") from None
    # The parser never resolves entities; refusing any DTD also keeps unexpanded references
    # (an XXE attempt) from passing as empty values.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _ListUnreadable(f"{LIST_XML} declares a DTD; a transfer list may not (refused)")
    root = tree.getroot()
    if root.tag != "移交清单":
        raise _ListUnreadable(f"{LIST_XML}: root element is {root.tag}, not 移交清单")
    summary = {tag: root.findtext(tag, "") for tag in SUMMARY_TAGS}
    rows = []
    for entry in root.iterfind("档案"):
        row = {tag: entry.findtext(tag, "") for tag in LIST_COLUMNS[:9]}
        size, digest = entry.find("大小"), entry.find("数字摘要")
        row["大小"] = (size.text or "") if size is not None else ""
        row["SHA-256"] = (digest.text or "") if digest is not None and digest.get("算法") == "SHA-256" else ""
        rows.append(row)
    return summary, rows


class _Source:
    """The batch as names and readable files, whether a ZIP or an unpacked directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        if path.is_dir():
            self.zip = None
            files = sorted(p for p in path.rglob("*") if p.is_file())
            self.names = [p.relative_to(path).as_posix() for p in files]
        else:
            self.zip = zipfile.ZipFile(path)  # BadZipFile / OSError: the caller reports it
            self.names = [info.filename for info in self.zip.infolist() if not info.is_dir()]
            # A ZIP may hold two entries of one name; only one of them would ever be read.
            self.problems += [f"{name} appears {count} times in the batch"
                              for name, count in Counter(self.names).items() if count > 1]

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    def size(self, name: str) -> int:
        return self.zip.getinfo(name).file_size if self.zip else (self.path / name).stat().st_size

    def open(self, name: str) -> BinaryIO:
        return self.zip.open(name) if self.zip else (self.path / name).open("rb")

    def read_limited(self, name: str) -> bytes:
        with self.open(name) as handle:
            content = handle.read(_MAX_LIST_BYTES + 1)
        if len(content) > _MAX_LIST_BYTES:
            raise _ListUnreadable(f"{name} is larger than {_MAX_LIST_BYTES} bytes")
        return content

    def sha256(self, name: str) -> str:
        digest = hashlib.sha256()
        with self.open(name) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    @contextmanager
    def local_file(self, name: str) -> Iterator[Path]:
        """A path check_package can open: the file itself, or a temporary copy out of the ZIP."""
        if self.zip is None:
            yield self.path / name
            return
        with tempfile.TemporaryDirectory(prefix="transfer-verify-") as scratch:
            copy = Path(scratch) / "package.zip"
            with self.open(name) as source, copy.open("wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            yield copy


def verify_batch(path: Path) -> BatchReport:
    """Check a batch ZIP or unpacked batch directory against its transfer list, package by package."""
    report = BatchReport()
    try:
        source = _Source(Path(path))
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"the batch is neither a directory nor a readable ZIP: {exc}")
        return report
    try:
        report.problems += source.problems
        _verify(source, report)
    except (OSError, zipfile.BadZipFile) as exc:  # e.g. a damaged ZIP entry met while reading the list
        report.problems.append(f"the batch cannot be read: {exc}")
    finally:
        source.close()
    return report


def _verify(source: _Source, report: BatchReport) -> None:
    report.problems += _list_manifest_problems(source)
    if LIST_XML not in source.names:
        report.problems.append(f"{LIST_XML} is missing: nothing says what the batch holds")
        return
    try:
        summary, rows = parse_list(source.read_limited(LIST_XML))
    except _ListUnreadable as exc:
        report.problems.append(str(exc))
        return
    report.summary = summary
    report.problems += _summary_problems(summary, rows)
    listed = _well_formed_rows(rows, summary, report.problems)
    expected = {f"{PACKAGES_DIR}/{row['档号']}.zip" for row in listed}
    for name in source.names:
        if name in expected or name in (*LIST_FILES, LIST_MANIFEST):
            continue
        if name.startswith(f"{PACKAGES_DIR}/") and name.endswith(".zip"):
            report.problems.append(f"{name} is in the batch but not in {LIST_XML}")
        else:
            report.problems.append(f"{name} is not part of a transfer batch")
    for row in listed:
        report.packages.append(_verify_package(source, row))


def _list_manifest_problems(source: _Source) -> list[str]:
    """The list files against manifest-sha256.txt: an edited list (a digest changed) fails here."""
    if LIST_MANIFEST not in source.names:
        return [f"{LIST_MANIFEST} is missing: the transfer list cannot be checked"]
    try:
        text = source.read_limited(LIST_MANIFEST).decode("utf-8")
    except (_ListUnreadable, UnicodeDecodeError) as exc:
        return [f"{LIST_MANIFEST} cannot be read: {exc}"]
    digests: dict[str, str] = {}
    problems = []
    for line in text.splitlines():
        digest, _sep, name = line.partition("  ")
        if not name:
            problems.append(f"{LIST_MANIFEST}: line {line[:80]!r} is not '<SHA-256>  <name>'")
        else:
            digests[name] = digest
    for name in LIST_FILES:
        if name not in digests:
            problems.append(f"{LIST_MANIFEST} does not list {name}")
        elif name not in source.names:
            problems.append(f"{name} is listed in {LIST_MANIFEST} but missing from the batch")
        elif source.sha256(name) != digests[name]:
            problems.append(f"{name}: SHA-256 differs from {LIST_MANIFEST} (the list was changed)")
    problems += [f"{LIST_MANIFEST} lists {name}, which is not a list file" for name in digests
                 if name not in LIST_FILES]
    return problems


def _summary_problems(summary: dict[str, str], rows: list[dict[str, str]]) -> list[str]:
    problems = [f"{LIST_XML}: the summary has no {tag}" for tag, value in summary.items() if not value.strip()]
    year = summary.get("年度", "")
    if year and not (year.isdigit() and len(year) == 4):
        problems.append(f"{LIST_XML}: 年度 {year!r} is not a four-digit year")
    retention = summary.get("保管期限", "")
    if retention and retention not in (*RETENTION_LABELS.values(), ALL_RETENTIONS):
        problems.append(f"{LIST_XML}: 保管期限 {retention!r} is not one of 永久, 30年, 10年, 全部")
    if summary.get("件数") != str(len(rows)):
        problems.append(f"{LIST_XML}: 件数 says {summary.get('件数')} but {len(rows)} 档案 are listed")
    if not rows:
        problems.append(f"{LIST_XML} lists no 档案")
    numbers = [row["序号"] for row in rows]
    if numbers != [str(n) for n in range(1, len(rows) + 1)]:
        problems.append(f"{LIST_XML}: 序号 are not 1 to {len(rows)} in order")
    return problems


def _well_formed_rows(rows: list[dict[str, str]], summary: dict[str, str], problems: list[str]) -> list[dict]:
    """Rows whose 档号 is well formed, unique and belongs to the batch's 全宗, 年度 and 保管期限; the rest
    are batch problems (a malformed 档号 never names a file to open)."""
    counts = Counter(row["档号"] for row in rows)
    problems += [f"档号 {code} is listed {count} times" for code, count in counts.items() if count > 1]
    kept, seen = [], set()
    for row in rows:
        code = row["档号"]
        match = ARCHIVAL_CODE.fullmatch(code)
        if match is None:
            problems.append(f"档号 {code!r} (序号 {row['序号']}) is not 全宗号-门类·年度-保管期限-机构代码-件号")
            continue
        if match["fonds"] != summary.get("全宗号"):
            problems.append(f"档号 {code}: 全宗号 {match['fonds']} is not the batch's {summary.get('全宗号')}")
        if match["year"] != summary.get("年度"):
            problems.append(f"档号 {code}: 年度 {match['year']} is not the batch's {summary.get('年度')}")
        label = RETENTION_LABELS[match["retention"]]
        if summary.get("保管期限") not in (label, ALL_RETENTIONS):
            problems.append(f"档号 {code}: 保管期限 {label} is not the batch's {summary.get('保管期限')}")
        if code not in seen:
            seen.add(code)
            kept.append(row)
    return kept


def _verify_package(source: _Source, row: dict[str, str]) -> PackageVerdict:
    code = row["档号"]
    name = f"{PACKAGES_DIR}/{code}.zip"
    if name not in source.names:
        missing = checks.result(PRESENT, checks.INTEGRITY, f"{name} is listed but not in the batch", "")
        return PackageVerdict(code, [missing])
    size = source.size(name)
    present = checks.result(PRESENT, checks.INTEGRITY, None if str(size) == row["大小"] else
                            f"{name} has {size} bytes but the list says {row['大小']}",
                            f"{name} is in the batch with the listed size")
    with source.local_file(name) as path:
        report, parsed = checks.check_package(path, expected_sha256=row["SHA-256"] or None, expected_code=code,
                                              check_storage=False)
    if not row["SHA-256"]:  # without a listed digest SEC-01 would only be skipped
        report.append(checks.result("SEC-01", checks.SECURITY, "the list gives no SHA-256 for the package", ""))
    return PackageVerdict(code, [present, _agrees(row, parsed), *report])


def _agrees(row: dict[str, str], parsed: dict | None) -> dict:
    """The list describes the package it names: its row equals the package's own metadata."""
    ok = "the list's row agrees with the package's metadata"
    if parsed is None:
        return checks.result(AGREES, checks.AUTHENTICITY, None, "the package's metadata is unreadable (USA-01)",
                             skipped=True)
    fields = parsed["fields"]
    own = {"题名": fields.get("题名"), "年度": fields.get("年度"), "保管期限": fields.get("保管期限"),
           "密级": fields.get("密级"), "办件编号": fields.get("文件编号"), "事项名称": fields.get("事项名称"),
           "文件数": str(len(parsed["files"]))}
    problems = [f"the list says {tag} {row[tag]!r} but the package says {value!r}"
                for tag, value in own.items() if row[tag] != (value or "")]
    return checks.result(AGREES, checks.AUTHENTICITY, problems, ok)
