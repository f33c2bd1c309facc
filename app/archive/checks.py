"""四性检测 (DA/T 70) of one package file: authenticity, integrity, usability, security.

Each check has a code, a result (pass / fail / skip) and a message naming what failed. These are
the checks that need the package alone; the filing service adds those that need the database (no
duplicate 档号, no gap in 件号, the stored event chain).
"""
from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path

from lxml import etree

from app.archive import metadata as metadata_xml
from app.archive.chain import chain_breaks
from app.archive.formats import ACCEPTED_FORMATS, detect_format, open_problem
from app.archive.package import CHUNK, MANIFEST_NAME, METADATA_NAME

AUTHENTICITY, INTEGRITY, USABILITY, SECURITY = "authenticity", "integrity", "usability", "security"
EVENTS_NAME = "events.json"
_TEXT_FORMATS = {"JSON", "XML", "TXT"}
_MAX_TEXT = 16 * 1024 * 1024


def result(code: str, prop: str, problems: list[str] | str | None, ok: str, *, skipped: bool = False) -> dict:
    """One check's record: failed with the problems listed, else passed (or skipped) with `ok`."""
    if isinstance(problems, str):
        problems = [problems]
    if skipped:
        return {"code": code, "property": prop, "result": "skip", "message": ok}
    if problems:
        shown = "; ".join(problems[:10]) + (f"; … {len(problems) - 10} more" if len(problems) > 10 else "")
        return {"code": code, "property": prop, "result": "fail", "message": shown}
    return {"code": code, "property": prop, "result": "pass", "message": ok}


def passed(report: list[dict]) -> bool:
    return all(check["result"] != "fail" for check in report)


class _Entry:
    """What was read of one file in the ZIP: digest, size, format, whether it opens."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        self.name, self.encrypted = info.filename, bool(info.flag_bits & 0x1)
        self.problem: str | None = None
        digest, size, head, tail, whole = hashlib.sha256(), 0, b"", b"", bytearray()
        if self.encrypted:
            self.sha256, self.size, self.format = "", info.file_size, "UNKNOWN"
            return
        with archive.open(info) as handle:
            while chunk := handle.read(CHUNK):
                if not head:
                    head = chunk[:4096]
                    self.format = detect_format(head, self.name)
                digest.update(chunk)
                tail = (tail + chunk)[-1024:]
                if self.format in _TEXT_FORMATS and size < _MAX_TEXT:  # only text is parsed whole
                    whole += chunk
                size += len(chunk)
        self.sha256, self.size = digest.hexdigest(), size
        if not head:
            self.format = detect_format(head, self.name)
        self.whole = bytes(whole) if self.format in _TEXT_FORMATS else None
        self.problem = open_problem(self.format, head, tail, self.whole)


def check_package(path: Path, *, expected_sha256: str | None = None, expected_code: str | None = None,
                  check_storage: bool = True, scan_command: str = "") -> tuple[list[dict], dict | None]:
    """Run the file-level checks; returns the report and the parsed metadata (None when unreadable)."""
    report: list[dict] = []
    try:
        with zipfile.ZipFile(path) as archive:
            entries = {info.filename: _Entry(archive, info) for info in archive.infolist() if not info.is_dir()}
    except (OSError, zipfile.BadZipFile) as exc:
        report.append(result("USA-01", USABILITY, f"the package does not open as a ZIP: {exc}", ""))
        report += _security(path, expected_sha256, check_storage, scan_command)
        return report, None

    meta_entry = entries.get(METADATA_NAME)
    try:
        if meta_entry is None or meta_entry.whole is None:
            raise etree.XMLSyntaxError(f"{METADATA_NAME} is missing", None, 1, 1)
        parsed = metadata_xml.parse(meta_entry.whole)
        report.append(result("USA-01", USABILITY, None, "metadata XML parses"))
    except etree.XMLSyntaxError as exc:
        report.append(result("USA-01", USABILITY, f"metadata does not parse: {exc}", ""))
        report += _security(path, expected_sha256, check_storage, scan_command)
        return report, None

    fields, listed = parsed["fields"], parsed["files"]
    report.append(_mandatory(fields))
    report.append(_field_formats(fields))
    report.append(_code(fields, expected_code))
    report += _files(entries, listed, fields)
    report.append(_events(entries))
    report += _security(path, expected_sha256, check_storage, scan_command)
    return report, parsed


def _mandatory(fields: dict) -> dict:
    missing = [f"{tag} is missing" for tag in metadata_xml.MANDATORY if not fields.get(tag, "").strip()]
    return result("INT-01", INTEGRITY, missing, "every mandatory metadata element is present")


def _field_formats(fields: dict) -> dict:
    problems = [f"{tag} is longer than {limit} characters" for tag, limit in metadata_xml.MANDATORY.items()
                if len(fields.get(tag, "")) > limit]
    if fields.get("年度") and not (fields["年度"].isdigit() and len(fields["年度"]) == 4):
        problems.append(f"年度 {fields['年度']!r} is not a four-digit year")
    try:
        datetime.strptime(fields.get("日期", ""), "%Y%m%d")
    except ValueError:
        problems.append(f"日期 {fields.get('日期')!r} is not a date written YYYYMMDD")
    if fields.get("保管期限") not in metadata_xml.RETENTION_LABELS.values():
        problems.append(f"保管期限 {fields.get('保管期限')!r} is not one of 永久, 30年, 10年")
    if fields.get("密级") not in metadata_xml.CLASSIFICATIONS:
        problems.append(f"密级 {fields.get('密级')!r} is not one of {'、'.join(metadata_xml.CLASSIFICATIONS)}")
    for tag in ("件数", "页数", "件号"):
        if fields.get(tag) and not fields[tag].isdigit():
            problems.append(f"{tag} {fields[tag]!r} is not a number")
    return result("AUT-03", AUTHENTICITY, problems, "metadata values have their types, lengths and enumerations")


def _code(fields: dict, expected_code: str | None) -> dict:
    code = fields.get("档号", "")
    match = metadata_xml.ARCHIVAL_CODE.fullmatch(code)
    if match is None:
        return result("AUT-04", AUTHENTICITY, f"档号 {code!r} is not 全宗号-门类·年度-保管期限-机构代码-件号", "")
    problems = []
    labels = metadata_xml.RETENTION_LABELS
    parts = {"全宗号": match["fonds"], "门类代码": match["category"], "年度": match["year"],
             "机构代码": match["organisation"], "件号": match["piece"]}
    problems += [f"档号 says {tag} {value} but the element says {fields.get(tag)}"
                 for tag, value in parts.items() if fields.get(tag) != value]
    if labels.get(match["retention"]) != fields.get("保管期限"):
        problems.append(f"档号 says 保管期限 {match['retention']} but the element says {fields.get('保管期限')}")
    if expected_code and code != expected_code:
        problems.append(f"档号 {code} is not the package's 档号 {expected_code}")
    return result("AUT-04", AUTHENTICITY, problems, f"档号 {code} is well formed and agrees with its elements")


def _manifest(entries: dict) -> dict[str, str] | None:
    entry = entries.get(MANIFEST_NAME)
    if entry is None or entry.whole is None:
        return None
    digests = {}
    for line in entry.whole.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        if name:
            digests[name] = digest
    return digests


def _files(entries: dict, listed: list[dict], fields: dict) -> list[dict]:
    manifest = _manifest(entries)
    listed_paths = [f["path"] for f in listed]
    # INT-04: every listed file is there, and nothing unlisted is.
    absent = [f"{p} is listed but not in the package" for p in listed_paths if p not in entries]
    extra = [f"{name} is in the package but not listed" for name in entries
             if name not in listed_paths and name not in (METADATA_NAME, MANIFEST_NAME)]
    if manifest is None:
        absent.append(f"{MANIFEST_NAME} is missing")
    checks = [result("INT-04", INTEGRITY, absent + extra, f"all {len(listed)} listed files are present")]
    # INT-02: counts agree.
    counts = []
    if fields.get("件数") != str(len(listed)):
        counts.append(f"件数 says {fields.get('件数')} but {len(listed)} files are listed")
    if manifest is not None and len(manifest) != len(listed) + 1:
        counts.append(f"the manifest names {len(manifest)} files, the metadata {len(listed)} (+ itself)")
    checks.append(result("INT-02", INTEGRITY, counts, f"{len(listed)} files, as counted in the metadata"))
    # AUT-01: the manifest's digests; AUT-02: the metadata's digests; AUT-06: sizes and formats.
    by_manifest, by_metadata, properties, opening, encryption = [], [], [], [], []
    for name, entry in entries.items():
        if manifest is not None and name != MANIFEST_NAME and manifest.get(name) != entry.sha256:
            by_manifest.append(f"{name}: SHA-256 differs from the manifest")
        if entry.encrypted:
            encryption.append(f"{name} is encrypted")
        elif entry.problem:
            (encryption if "encrypted" in entry.problem else opening).append(f"{name}: {entry.problem}")
    for listed_file in listed:
        entry = entries.get(listed_file["path"])
        if entry is None:
            continue
        if listed_file["sha256"] != entry.sha256 or listed_file["algorithm"] != "SHA-256":
            by_metadata.append(f"{entry.name}: SHA-256 differs from its 数字摘要")
        if listed_file["size"] != str(entry.size):
            properties.append(f"{entry.name}: 计算机文件大小 {listed_file['size']} but the file has {entry.size} bytes")
        if listed_file["format"] != entry.format:
            properties.append(f"{entry.name}: 格式信息 {listed_file['format']} but the file is {entry.format}")
        if entry.format not in ACCEPTED_FORMATS:
            opening.append(f"{entry.name}: format {entry.format} is not accepted for archiving")
    checks += [
        result("AUT-01", AUTHENTICITY, by_manifest if manifest is not None else f"{MANIFEST_NAME} is missing",
               "every file matches its SHA-256 in the manifest"),
        result("AUT-02", AUTHENTICITY, by_metadata, "every file matches its 数字摘要 in the metadata"),
        result("AUT-06", AUTHENTICITY, properties, "file sizes and formats equal their metadata"),
        result("USA-02", USABILITY, opening, "every file opens as its format"),
        result("USA-03", USABILITY, encryption, "no file is encrypted"),
    ]
    return checks


def _events(entries: dict) -> dict:
    entry = entries.get(EVENTS_NAME)
    if entry is None or entry.whole is None:
        return result("AUT-07", AUTHENTICITY, f"{EVENTS_NAME} is missing", "")
    try:
        events = json.loads(entry.whole)
    except ValueError as exc:
        return result("AUT-07", AUTHENTICITY, f"{EVENTS_NAME} does not parse: {exc}", "")
    return result("AUT-07", AUTHENTICITY, chain_breaks(events), f"the chain of {len(events)} events is intact")


def _security(path: Path, expected_sha256: str | None, check_storage: bool, scan_command: str) -> list[dict]:
    checks = []
    if expected_sha256 is None:
        checks.append(result("SEC-01", SECURITY, None, "no sealed digest to compare with", skipped=True))
    else:
        try:
            with path.open("rb") as handle:
                actual = hashlib.file_digest(handle, "sha256").hexdigest()
            problem = None if actual == expected_sha256 else "the package differs from the sealed package (SHA-256)"
        except OSError as exc:
            problem = f"the package cannot be read: {exc}"
        checks.append(result("SEC-01", SECURITY, problem, "the package is unchanged since sealing"))
    if check_storage:
        try:
            mode = path.stat().st_mode
            problem = None if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) else \
                f"the package file is writable (mode {stat.filemode(mode)})"
        except OSError as exc:
            problem = f"the package cannot be read: {exc}"
        checks.append(result("SEC-02", SECURITY, problem, "the stored package is read-only"))
    if scan_command:
        try:
            done = subprocess.run([*scan_command.split(), str(path)], capture_output=True, timeout=300, check=False)
            problem = None if done.returncode == 0 else \
                f"the virus scan reported a problem: {done.stdout.decode(errors='replace')[:300]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"the virus scan could not run: {exc}"
        checks.append(result("SEC-03", SECURITY, problem, "the virus scan found nothing"))
    else:
        checks.append(result("SEC-03", SECURITY, None, "no virus scanner configured", skipped=True))
    return checks
