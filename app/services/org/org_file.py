"""The organisation file: departments and users in one table, as CSV (UTF-8) or XLSX.

One row per department (`type` = department) or user (`type` = user); a header row names the columns,
in English keys or their Chinese names. Lists (roles, departments, heads) are separated by ; or 、.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

# Column key → the Chinese header an administrator may use instead.
COLUMNS = {
    "type": "类型", "code": "部门代码", "name": "部门名称", "name_en": "英文名称", "parent": "上级部门",
    "heads": "负责人", "username": "用户名", "display_name": "姓名", "email": "电子邮箱", "mobile": "手机号码",
    "roles": "角色", "departments": "所属部门", "active": "启用",
}
_HEADER_KEYS = {**{key: key for key in COLUMNS}, **{chinese: key for key, chinese in COLUMNS.items()}}
ROW_TYPES = {"department": "department", "部门": "department", "user": "user", "用户": "user"}
LIST_SEPARATORS = re.compile(r"[;；,，、\s]+")
MAX_ROWS = 50_000
# Cells read per row: every known column and some room for unknown ones, which are reported.
MAX_COLUMNS = 40
# What spreadsheet programs read as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@")


@dataclass
class FileProblem:
    """One thing wrong with the file: its row (1 = header; None for the whole file) and column."""

    row: int | None
    column: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Row:
    number: int
    values: dict[str, str]

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def list(self, key: str) -> list[str]:
        return [part for part in LIST_SEPARATORS.split(self.get(key)) if part]


@dataclass
class OrgTable:
    rows: list[Row] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)


def read_org_file(filename: str, content: bytes) -> OrgTable:
    """The rows of a CSV or XLSX file; problems that make it unreadable are listed, nothing raised."""
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(content)
    if filename.lower().endswith((".csv", ".txt")) or not filename:
        return _read_csv(content)
    return OrgTable(problems=[FileProblem(None, None, _("Upload a .csv (UTF-8) or .xlsx file."))])


def _read_csv(content: bytes) -> OrgTable:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        return OrgTable(problems=[FileProblem(line, None, _(
            "The file is not UTF-8 text (byte %(pos)s). In Excel save it as \"CSV UTF-8\", or upload the .xlsx.",
            pos=exc.start + 1))])
    if "\x00" in text:
        return OrgTable(problems=[FileProblem(None, None, _("The file is not a CSV text file."))])
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        return OrgTable(problems=[FileProblem(None, None, _("The CSV file cannot be read: %(reason)s",
                                                             reason=str(exc)))])
    return _table([(number, record) for number, record in enumerate(records, start=1)])


def _read_xlsx(content: bytes) -> OrgTable:
    try:
        return _read_workbook(content)
    except Exception as exc:  # noqa: BLE001 - whatever a damaged or hostile file raises, it is a problem of the file
        return OrgTable(problems=[FileProblem(None, None, _("The XLSX file cannot be read: %(reason)s",
                                                             reason=type(exc).__name__))])


def _read_workbook(content: bytes) -> OrgTable:
    workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    try:
        sheet = workbook.worksheets[0]
        # The size the file declares is not trusted: a tiny file may claim 16,384 columns.
        sheet.reset_dimensions()
        records, formulas, too_long = [], [], False
        for number, cells in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS), start=1):
            if number > MAX_ROWS + 1:
                too_long = True
                break
            values = []
            for index, cell in enumerate(cells):
                value = cell.value
                if getattr(cell, "data_type", None) == "f" or (isinstance(value, str) and value.startswith("=")):
                    formulas.append(FileProblem(number, None, _(
                        "Cell %(cell)s holds a formula: enter plain values (copy, then paste values).",
                        cell=f"{_column_letter(index)}{number}")))
                values.append("" if value is None else (str(int(value)) if isinstance(value, float)
                                                         and value.is_integer() else str(value)))
            records.append((number, values))
    finally:
        workbook.close()
    table = _table(records, too_long)
    table.problems[:0] = formulas
    return table


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _plain(cell: str) -> str:
    """The cell's value, without the apostrophe an export puts before formula-like text."""
    cell = cell.strip()
    return cell[1:] if cell.startswith("'") and cell[1:2] in FORMULA_STARTS else cell


def _table(records: list[tuple[int, list[str]]], too_long: bool = False) -> OrgTable:
    """Rows as dicts by column key; the header must name the type column, unknown columns are refused."""
    records = [(number, [_plain(cell) for cell in record]) for number, record in records]
    records = [(number, record) for number, record in records if any(record)]
    if not records:
        return OrgTable(problems=[FileProblem(None, None, _("The file is empty."))])
    header_number, header = records[0]
    keys, problems = [], []
    for title in header:
        key = _HEADER_KEYS.get(title) or _HEADER_KEYS.get(title.lower())
        if title and key is None:
            problems.append(FileProblem(header_number, title, _("Unknown column %(column)s.", column=title)))
        keys.append(key)
    if "type" not in keys:
        problems.append(FileProblem(header_number, "type", _("The header row must have a column type (类型).")))
    if too_long or len(records) - 1 > MAX_ROWS:
        problems.append(FileProblem(None, None, _("The file has more than %(n)s rows.", n=MAX_ROWS)))
    if problems:
        return OrgTable(problems=problems)
    rows = [Row(number, {key: value for key, value in zip(keys, record, strict=False) if key})
            for number, record in records[1:]]
    return OrgTable(rows=rows)


def org_rows(departments: list[dict], users: list[dict]) -> list[list[str]]:
    """The header and one row per department and user, ready to write."""
    def joined(values) -> str:
        return ";".join(values or [])

    def flag(value: bool) -> str:
        return "yes" if value else "no"

    rows = [list(COLUMNS)]
    for d in departments:
        rows.append(["department", d["code"], d["name"], d.get("name_en") or "", d.get("parent") or "",
                     joined(d.get("heads")), "", "", "", "", "", "", flag(d["active"])])
    for u in users:
        rows.append(["user", "", "", "", "", "", u["username"], u["display_name"], u.get("email") or "",
                     u.get("mobile") or "", joined(u["roles"]), joined(u["departments"]), flag(u["active"])])
    return rows


def write_csv(rows: list[list[str]]) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens the Chinese names right. A value Excel would
    take for a formula gets a leading apostrophe (read back as the plain value)."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [[f"'{value}" if value.startswith(FORMULA_STARTS) else value for value in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_xlsx(rows: list[list[str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "organisation"
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.data_type = "s"  # text only: a name starting with = must never become a formula
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
