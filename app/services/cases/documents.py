"""Numbered documents issued at intake (受理回执, 不予受理通知书, 补正告知书 …), kept with the case.

Documents are official papers and always read in Chinese. Each is stored as the data printed and as
a PDF in the write-once store; the stored PDF never holds the query password (it is kept only as a
hash), so a copy with the password can only be printed right after acceptance.
"""
from __future__ import annotations

import copy
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from app.documents.pdf import render_pdf
from app.extensions import db
from app.models import Case, CaseDocument, DocumentSerial
from app.models.base import utcnow
from app.models.org import Actor
from app.services.cases import materials as material_store
from app.services.cases.serials import next_serial
from app.taskforms.formats import mask_id_number

KINDS = {
    # kind: (number prefix, title)
    "acceptance_receipt": ("SL", "受理回执"),
    "deficiency_receipt": ("RQ", "容缺受理回执"),
    "refusal_notice": ("BY", "不予受理通知书"),
    "supplement_notice": ("BZ", "补正材料通知书(一次性告知)"),
    "result_notice": ("BJ", "办结告知书"),
    "special_procedure_notice": ("TB", "特别程序告知书"),
}
# The special procedures of 《行政许可法》第45条, whose time is not counted in the limit.
SPECIAL_PROCEDURES = {"hearing": "听证", "testing": "检验检测", "appraisal": "鉴定", "expert_review": "专家评审",
                      "public_notice": "公示", "site_check": "现场勘查"}
# How the result notice words each case result.
_RESULT_TEXT = {"granted": "准予办理", "refused": "不予办理", "withdrawn": "申请人撤回申请,终止办理",
                "returned": "补正期满未补正,作退件处理"}
QUERY_CODE_LABEL = "查询密码"
QUERY_CODE_HIDDEN = "******(仅首次打印件显示)"
_UNITS = {"working_day": "个工作日", "calendar_day": "个自然日", "hour": "小时"}
_ID_TYPES = {"resident_id": "居民身份证", "passport": "护照", "hk_macao_permit": "港澳居民来往内地通行证",
             "taiwan_permit": "台湾居民来往大陆通行证", "uscc": "统一社会信用代码"}
_AGENT_KINDS = {"entrusted": "委托代理人", "guardian": "监护人"}


def _local(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def chinese_date(day: date | datetime) -> str:
    """2026年11月21日, as official papers write dates."""
    if isinstance(day, datetime):
        day = _local(day).date()
    return f"{day.year}年{day.month}月{day.day}日"


def chinese_time(moment: datetime) -> str:
    local = _local(moment)
    return f"{chinese_date(local.date())} {local:%H:%M}"


def limit_text(value: int, unit: str) -> str:
    """5个工作日; 0 working days is handled on the spot (即办)."""
    return "当场办结(即办)" if value == 0 else f"{value}{_UNITS.get(unit, unit)}"


def _applicant_rows(case: Case) -> list[list[str]]:
    rows = [["申请人", case.applicant_name],
            [_ID_TYPES.get(case.applicant_id_type, "证件号码"), mask_id_number(case.applicant_id_number)]]
    if case.applicant_legal_representative:
        rows.append(["法定代表人", case.applicant_legal_representative])
    if case.agent:
        rows.append([_AGENT_KINDS.get(case.agent["kind"], "代理人"),
                     f"{case.agent['name']}({mask_id_number(case.agent['id_number'])})"])
    return rows


def _head_rows(case: Case) -> list[list[str]]:
    return [["办件编号", case.case_no], [QUERY_CODE_LABEL, QUERY_CODE_HIDDEN],
            ["事项名称", case.item.name], *_applicant_rows(case), ["申请时间", chinese_time(case.created_at)]]


def _materials_table(case: Case) -> dict:
    rows = []
    for material in case.materials:
        if material.state == "superseded":
            continue
        if material.state == "promised":
            rows.append([material.name, "容缺(承诺补交)", f"承诺于{chinese_date(material.promised_date)}前补交"])
        else:
            rows.append([material.name, "已收取", material.filename or "纸质材料"])
    return {"caption": "收取材料", "header": ["材料名称", "状态", "说明"], "rows": rows}


def _signature(actor: Actor | None, now: datetime) -> dict:
    return {"label": "经办人", "name": actor.display_name if actor else "系统", "date": chinese_date(now)}


def acceptance_content(case: Case, actor: Actor, now: datetime, *, deficiency: bool) -> dict:
    """受理回执 (or 容缺受理回执): the case number, password, limits and materials received."""
    item = case.item
    rows = _head_rows(case) + [
        ["受理时间", chinese_time(case.accepted_at)],
        ["受理窗口", f"{current_app.config['ISSUING_AUTHORITY']} 综合受理窗口"],
        ["受理人", actor.display_name],
        ["承诺办结时限", limit_text(item.committed_limit_value, item.committed_limit_unit)],
        ["承诺办结日期", chinese_date(case.committed_due_at) if case.committed_due_at else "-"],
        ["法定办结时限", limit_text(item.statutory_limit_value, item.statutory_limit_unit)],
    ]
    paragraphs = ["您的申请材料齐全、符合法定形式,本机关已予受理。请妥善保管本回执,"
                  "凭办件编号和查询密码可查询办理进度。"]
    if deficiency:
        paragraphs = ["您的申请已容缺受理。请于承诺日期前补交所列容缺材料;逾期未补交的,"
                      "将影响办结。凭办件编号和查询密码可查询办理进度。"]
    return {"rows": rows, "tables": [_materials_table(case)], "paragraphs": paragraphs,
            "signature": _signature(actor, now)}


def refusal_content(case: Case, actor: Actor, now: datetime, reason: str) -> dict:
    """不予受理通知书 with the reasons, and the applicant's remedies."""
    return {
        "rows": _head_rows(case) + [["不予受理理由", reason]],
        "paragraphs": [
            f"{case.applicant_name}:你(单位)于{chinese_date(case.created_at)}提出的{case.item.name}申请,"
            f"经审查,因上述理由,本机关决定不予受理。",
            "如对本决定不服,可以自收到本通知书之日起六十日内依法申请行政复议,"
            "或者在六个月内依法提起行政诉讼。",
        ],
        "signature": _signature(actor, now),
    }


def supplement_content(case: Case, actor: Actor, now: datetime, missing: list[dict]) -> dict:
    """一次性告知: every missing or defective material, and the date by which to bring them."""
    return {
        "rows": _head_rows(case) + [["补正期限", chinese_date(case.supplement_due_at)]],
        "tables": [{"caption": "需补正的材料", "header": ["材料名称", "问题", "补正要求"],
                    "rows": [[m["name"], "缺少" if m["problem"] == "missing" else "不符合要求", m["note"] or "-"]
                             for m in missing]}],
        "paragraphs": [
            "经审查,你(单位)提交的申请材料不齐全或者不符合法定形式,现一次性告知需要补正的全部内容。",
            f"请于{chinese_date(case.supplement_due_at)}前补正上述全部材料;补正后本机关将重新审查。"
            "逾期未补正的,视为放弃申请,本机关将作退件处理。",
        ],
        "signature": _signature(actor, now),
    }


def special_procedure_content(case: Case, actor: Actor, now: datetime, procedure: str, reason: str,
                              expected_end: date, working_days: int) -> dict:
    """特别程序告知书: which procedure, why, and how long it is expected to take (not counted in the limit)."""
    name = SPECIAL_PROCEDURES[procedure]
    return {
        "rows": _head_rows(case) + [["特别程序", name], ["理由", reason], ["开始日期", chinese_date(now)],
                                    ["预计结束日期", chinese_date(expected_end)],
                                    ["预计所需时间", f"{working_days}个工作日"]],
        "paragraphs": [
            f"{case.applicant_name}:你(单位)申请的{case.item.name}事项,因上述理由需要进行{name}。",
            "依照《中华人民共和国行政许可法》第四十五条," + name + "所需时间不计算在办理期限内。"
            "程序结束后,本机关将继续办理并告知结果。特此告知。",
        ],
        "signature": _signature(actor, now),
    }


def result_content(case: Case, actor: Actor | None, now: datetime) -> dict:
    """办结告知书: the case's result and its reason, the result material of every finished case."""
    rows = _head_rows(case) + [["办理结果", _RESULT_TEXT.get(case.result, case.result or "-")],
                               ["办结时间", chinese_time(case.completed_at or now)]]
    if case.result_reason:
        rows.append(["理由", case.result_reason])
    paragraphs = [f"{case.applicant_name}:你(单位)申请的{case.item.name}已办结,办理结果如上。"]
    if case.result == "refused":
        paragraphs.append("如对本决定不服,可以自收到本告知书之日起六十日内依法申请行政复议,"
                          "或者在六个月内依法提起行政诉讼。")
    return {"rows": rows, "paragraphs": paragraphs, "signature": _signature(actor, now)}


def issue_document(case: Case, kind: str, body: dict, actor: Actor | None) -> CaseDocument:
    """Number the document and keep its content with the case; its PDF is stored soon after."""
    prefix, title = KINDS[kind]
    now = utcnow()
    year = _local(now).year
    doc_no = f"{prefix}{year}{next_serial(DocumentSerial, kind=kind, year=year):06d}"
    content = {"title": title, "doc_no": doc_no, "issuer": current_app.config["ISSUING_AUTHORITY"], **body}
    document = CaseDocument(case_id=case.id, kind=kind, doc_no=doc_no, title=title, content=content,
                            issued_at=now, issued_by_id=actor.id if actor else None)
    db.session.add(document)
    return document


def stored_pdf(document: CaseDocument) -> Path:
    """Path of the document's stored PDF, rendering and storing it first if needed (flushes)."""
    if document.sha256 is None:
        # Rendering is deterministic, so two workers doing this at once store the same bytes.
        stored = material_store.store(render_pdf(document.content), "application/pdf")
        document.sha256, document.size = stored.sha256, stored.size
        db.session.flush()
    return material_store.path_for(document.sha256)


def store_pending_pdfs(batch_size: int = 200) -> int:
    """Job: store the PDFs of documents issued since the last run, off the front desk's request."""
    pending = list(db.session.scalars(select(CaseDocument).where(CaseDocument.sha256.is_(None))
                                      .order_by(CaseDocument.id).limit(batch_size)))
    for document in pending:
        stored_pdf(document)
    return len(pending)


def with_query_code(content: dict, query_code: str) -> dict:
    """The document's content with the real query password, for the one print right after intake."""
    content = copy.deepcopy(content)
    for row in content.get("rows", []):
        if row[0] == QUERY_CODE_LABEL:
            row[1] = query_code
    return content
