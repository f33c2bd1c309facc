"""Case documents render as deterministic PDFs whose Chinese text can be extracted."""
from __future__ import annotations

import io
import re

from pypdf import PdfReader

from app.documents.pdf import render_pdf

LONG = "依据《中华人民共和国档案法》及相关规定，经审查，申请人提交的材料齐全、符合法定形式，决定予以受理。" * 4

DOCUMENT = {
    "title": "受理回执",
    "doc_no": "SLHZ2026000001",
    "issuer": "XX市档案馆 综合受理窗口",
    "rows": [
        ["办件编号", "11370000MB0000001X0001"],
        ["申请人", "张三"],
        ["备注", "<script>alert(1)</script> & more"],
        ["Applicant", "John Smith"],
    ],
    "tables": [{"caption": "收取材料", "header": ["材料", "状态", "说明"],
                "rows": [["申请表", "已收取", ""], ["身份证复印件", "已收取", "原件已核验"]]}],
    "paragraphs": [LONG, "特此回执。"],
    "signature": {"label": "经办人", "name": "窗口受理员", "date": "2026年11月21日"},
}


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_output_is_a_pdf():
    assert render_pdf(DOCUMENT).startswith(b"%PDF-")


def test_text_extracts_including_chinese_latin_and_literal_markup():
    text = _squash("".join(_pages(render_pdf(DOCUMENT))))
    for expected in ("受理回执", "文书编号：SLHZ2026000001", "XX市档案馆综合受理窗口", "办件编号",
                     "11370000MB0000001X0001", "申请人", "张三", "<script>alert(1)</script>&more",
                     "ApplicantJohnSmith", "收取材料", "身份证复印件", "原件已核验", _squash(LONG), "特此回执。",
                     "经办人：窗口受理员", "2026年11月21日", "(印章)", "第1页"):
        assert expected in text, expected


def test_same_input_gives_identical_bytes():
    assert render_pdf(DOCUMENT) == render_pdf(dict(DOCUMENT))


def test_english_labels_override_defaults():
    text = _squash(_pages(render_pdf({**DOCUMENT, "labels": {"doc_no": "Doc No.", "page": "Page {page}"}}))[0])
    assert "DocNo.：SLHZ2026000001" in text
    assert "Page1" in text


def test_long_table_splits_across_pages_with_footer_and_header_on_each():
    rows = [[f"材料{i}", "已收取", "说明" * (i % 7)] for i in range(200)]
    pages = _pages(render_pdf({"title": "补正告知书", "tables": [{"caption": "材料", "header": ["材料", "状态", "说明"],
                                                               "rows": rows}]}))
    assert len(pages) > 1
    for number, page in enumerate(pages, start=1):
        assert f"第{number}页" in _squash(page)
        assert "状态" in page
    assert "材料199" in _squash("".join(pages))


def test_minimal_and_ragged_input_renders():
    pdf = render_pdf({"title": "不予受理通知书", "rows": [["只有标签"]], "tables": [{"rows": [["a", "b"], ["c"]]}],
                      "labels": {"page": "{page} {oops}"}})
    assert "不予受理通知书" in _pages(pdf)[0]


def test_chinese_punctuation_never_starts_a_wrapped_line():
    lines = "\n".join(_pages(render_pdf({"title": "通知", "rows": [["意见", LONG]], "paragraphs": [LONG]}))).splitlines()
    assert len(lines) > 8
    assert not [line for line in lines if line.strip()[:1] in "，；：！？》”"]
