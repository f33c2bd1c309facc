"""Render a case document snapshot as a deterministic A4 PDF with Chinese text."""
from __future__ import annotations

import io
import threading
from xml.sax.saxutils import escape

from reportlab.lib import colors, textsplit
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus import paragraph as rl_paragraph

# A viewer-supplied CID font: nothing to embed, tiny files, and text extracts as Unicode.
FONT = "STSong-Light"
MARGIN = 2 * cm
DEFAULT_LABELS = {"doc_no": "文书编号", "page": "第 {page} 页", "seal": "(印章)"}
# reportlab's line-start prohibition list is Japanese-centred; without these a line can begin with "，".
CHINESE_CANNOT_START = "，；：！？》〉”’"

_font_lock = threading.Lock()
_font_ready = False


def _ensure_font() -> None:
    """Register the CID font (and Chinese punctuation rules) once, even under concurrent requests."""
    global _font_ready
    with _font_lock:
        if not _font_ready:
            pdfmetrics.registerFont(UnicodeCIDFont(FONT))
            # Process-wide, but it only makes CJK wrapping stricter; both wrap paths keep their own copy,
            # and the guard keeps rendering working should reportlab rename the name.
            for module in (textsplit, rl_paragraph):
                if isinstance(getattr(module, "ALL_CANNOT_START", None), str):
                    module.ALL_CANNOT_START += CHINESE_CANNOT_START
            _font_ready = True


def _style(name: str, size: float, **extra) -> ParagraphStyle:
    """A plain black style; CJK wrapping because Chinese text has no spaces to break at."""
    return ParagraphStyle(name, fontName=FONT, fontSize=size, leading=size * 1.45,
                          textColor=colors.black, wordWrap="CJK", **extra)


STYLES = {
    "title": _style("title", 20, alignment=TA_CENTER, spaceAfter=6),
    "issuer": _style("issuer", 11, alignment=TA_CENTER, spaceAfter=12),
    "doc_no": _style("doc_no", 10, alignment=TA_RIGHT, spaceAfter=8),
    "caption": _style("caption", 11, spaceBefore=10, spaceAfter=4),
    "body": _style("body", 11, firstLineIndent=22, spaceBefore=4),
    "cell": _style("cell", 10),
    "head": _style("head", 10, alignment=TA_CENTER),
    "sign": _style("sign", 11, alignment=TA_RIGHT),
    "seal": _style("seal", 9, alignment=TA_CENTER),
}

GRID = TableStyle([
    ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("TOPPADDING", (0, 0), (-1, -1), 3),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
])


def _text(value) -> str:
    """Escape markup so user data is shown literally; keep the author's line breaks."""
    return escape("" if value is None else str(value)).replace("\n", "<br/>")


def _para(value, style: str) -> Paragraph:
    """A Paragraph of escaped text in one of the module styles."""
    return Paragraph(_text(value), STYLES[style])


def _key_value_table(rows: list, width: float) -> Table:
    """Two-column label/value grid; Paragraph cells let long values wrap."""
    data = [[_para(r[0] if r else "", "cell"), _para(r[1] if len(r) > 1 else "", "cell")] for r in rows]
    table = Table(data, colWidths=[width * 0.28, width * 0.72])
    table.setStyle(GRID)
    return table


def _grid_table(spec: dict, width: float) -> list:
    """A captioned table whose header row repeats on every page it spans."""
    header = list(spec.get("header") or [])
    rows = [list(r) for r in spec.get("rows") or []]
    columns = len(header) or max((len(r) for r in rows), default=0)
    if not columns:
        return []
    body = [[_para(c, "cell") for c in (r + [""] * columns)[:columns]] for r in rows]
    data = ([[_para(h, "head") for h in header]] if header else []) + body
    flow = [_para(spec["caption"], "caption")] if spec.get("caption") else []
    if not data:
        return flow
    table = Table(data, colWidths=[width / columns] * columns, repeatRows=1 if header else 0)
    table.setStyle(GRID)
    return [*flow, table]


def _signature(sig: dict, seal_label: str) -> KeepTogether:
    """Signer, date and an empty seal box, kept together at the bottom right."""
    label, name = sig.get("label"), sig.get("name")
    line = f"{label}：{name}" if label and name else (label or name or "")
    seal = Table([[_para(seal_label, "seal")]], colWidths=[3.5 * cm], rowHeights=[3.5 * cm], hAlign="RIGHT")
    seal.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.5, colors.black), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    return KeepTogether([Spacer(1, 24), _para(line, "sign"), _para(sig.get("date", ""), "sign"), Spacer(1, 6), seal])


def render_pdf(document: dict) -> bytes:
    """Render the document snapshot to PDF bytes; identical input gives identical bytes."""
    _ensure_font()
    labels = {**DEFAULT_LABELS, **(document.get("labels") or {})}
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN,
        title=str(document.get("title") or ""), author=str(document.get("issuer") or ""),
        invariant=1,  # fixed dates and file ID so the same snapshot always yields the same bytes
    )
    width = doc.width
    story = []
    if document.get("doc_no"):
        story.append(_para(f"{labels['doc_no']}：{document['doc_no']}", "doc_no"))
    story.append(_para(document.get("title", ""), "title"))
    if document.get("issuer"):
        story.append(_para(document["issuer"], "issuer"))
    if document.get("rows"):
        story.append(_key_value_table(document["rows"], width))
    for spec in document.get("tables") or []:
        story.extend(_grid_table(spec, width))
    if document.get("paragraphs"):
        story.append(Spacer(1, 8))
        story.extend(_para(p, "body") for p in document["paragraphs"])
    if document.get("signature"):
        story.append(_signature(document["signature"], labels["seal"]))

    def footer(canvas, _doc) -> None:
        """Centred page number; str.replace because a label with stray braces must not crash format()."""
        canvas.saveState()
        canvas.setFont(FONT, 9)
        canvas.setFillColor(colors.black)
        canvas.drawCentredString(A4[0] / 2, MARGIN / 2, labels["page"].replace("{page}", str(canvas.getPageNumber())))
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
