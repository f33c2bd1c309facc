"""The package's metadata XML: DA/T 46 element names in an EEP-like (DA/T 48) structure.

    <电子文件封装包>
      <封装包格式描述/> <版本/> <封装包类型/> <封装包创建时间/> <封装包创建单位/>
      <电子文件元数据>  聚合层次, 立档单位名称, 全宗号, 门类代码, 年度, 保管期限, 机构代码, 件号,
                      档号, 题名, 责任者, 文件编号, 日期, 密级, 件数, 页数, 事项编码, 事项名称
      <文件数据> <文件 序号>: 题名, 文件类别, 电子属性 (格式信息, 计算机文件名, 计算机文件大小),
                            数字摘要 (算法 SHA-256)
      <业务实体> <业务实体记录 序号>: 业务状态, 业务行为, 行为时间, 行为描述, 机构人员
    </电子文件封装包>

The files themselves sit beside this XML in the package (EEP "reference" style): the XML records
their digests, and the manifest records the XML's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from lxml import etree

from app.archive.formats import safe_xml_parser

RETENTION_LABELS = {"Y": "永久", "D30": "30年", "D10": "10年"}
CLASSIFICATIONS = ("公开", "限制", "秘密", "机密", "绝密")
# 全宗号-门类·年度-保管期限-机构代码-件号, e.g. Z109-WS·2026-D30-DAS-0001.
ARCHIVAL_CODE = re.compile(r"(?P<fonds>[A-Z0-9]{1,16})-(?P<category>[A-Z]{1,8})·(?P<year>[0-9]{4})-"
                           r"(?P<retention>Y|D30|D10)-(?P<organisation>[A-Z0-9]{1,16})-(?P<piece>[0-9]{4,6})")
# Mandatory elements of <电子文件元数据> and their longest length.
MANDATORY = {"聚合层次": 10, "立档单位名称": 200, "全宗号": 16, "门类代码": 8, "年度": 4, "保管期限": 8,
             "机构代码": 16, "件号": 6, "档号": 80, "题名": 300, "责任者": 200, "文件编号": 50, "日期": 8,
             "密级": 4, "件数": 6}


def archival_code(fonds: str, category: str, year: int, retention: str, organisation: str, piece: int) -> str:
    return f"{fonds}-{category}·{year}-{retention}-{organisation}-{piece:04d}"


@dataclass
class PackageRecord:
    """What the metadata says of the case as a whole (one 件)."""

    archiving_unit: str
    fonds_code: str
    category: str
    year: int
    retention: str
    organisation_code: str
    piece_no: int
    title: str
    creator: str
    case_no: str
    date: date
    classification: str
    item_code: str
    item_name: str
    created_at: str  # ISO instant the package was written
    entity_records: list[dict] = field(default_factory=list)  # 业务状态/业务行为/行为时间/行为描述/机构人员

    @property
    def code(self) -> str:
        return archival_code(self.fonds_code, self.category, self.year, self.retention, self.organisation_code,
                             self.piece_no)


def _add(parent: etree._Element, tag: str, text: object = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, **attributes)
    if text is not None:
        element.text = str(text)
    return element


def build(record: PackageRecord, files: list) -> bytes:
    """The metadata XML of a package holding these files (PackedFile-like: path, title, kind, …)."""
    root = etree.Element("电子文件封装包")
    _add(root, "封装包格式描述", "一窗通办件电子文件归档封装包,结构参照 DA/T 48,元数据参照 DA/T 46")
    _add(root, "版本", "1.0")
    _add(root, "封装包类型", "原始型")
    _add(root, "封装包创建时间", record.created_at)
    _add(root, "封装包创建单位", record.archiving_unit)
    meta = _add(root, "电子文件元数据")
    values = {
        "聚合层次": "件", "立档单位名称": record.archiving_unit, "全宗号": record.fonds_code,
        "门类代码": record.category, "年度": record.year, "保管期限": RETENTION_LABELS[record.retention],
        "机构代码": record.organisation_code, "件号": f"{record.piece_no:04d}", "档号": record.code,
        "题名": record.title, "责任者": record.creator, "文件编号": record.case_no,
        "日期": record.date.strftime("%Y%m%d"), "密级": record.classification, "件数": len(files),
        "页数": sum(f.pages for f in files), "事项编码": record.item_code, "事项名称": record.item_name,
    }
    for tag, value in values.items():
        _add(meta, tag, value)
    data = _add(root, "文件数据")
    for number, packed in enumerate(files, 1):
        entry = _add(data, "文件", 序号=str(number))
        _add(entry, "题名", packed.title)
        _add(entry, "文件类别", packed.kind)
        properties = _add(entry, "电子属性")
        _add(properties, "格式信息", packed.format)
        _add(properties, "计算机文件名", packed.path)
        _add(properties, "计算机文件大小", packed.size)
        _add(entry, "页数", packed.pages)
        _add(entry, "数字摘要", packed.sha256, 算法="SHA-256")
    entities = _add(root, "业务实体")
    for number, step in enumerate(record.entity_records, 1):
        entry = _add(entities, "业务实体记录", 序号=str(number))
        for tag in ("业务状态", "业务行为", "行为时间", "行为描述", "机构人员"):
            _add(entry, tag, step.get(tag) or "")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def parse(document: bytes) -> dict:
    """The metadata as {"fields": {…}, "files": [{…}], "records": [{…}]}; XMLSyntaxError when malformed."""
    root = etree.fromstring(document, safe_xml_parser())
    if root.tag != "电子文件封装包":
        raise etree.XMLSyntaxError(f"root element is {root.tag}, not 电子文件封装包", None, 1, 1)
    meta = root.find("电子文件元数据")
    fields = {child.tag: (child.text or "") for child in meta} if meta is not None else {}
    files = []
    for entry in root.iterfind("文件数据/文件"):
        digest = entry.find("数字摘要")
        files.append({
            "number": entry.get("序号"), "title": entry.findtext("题名", ""), "kind": entry.findtext("文件类别", ""),
            "format": entry.findtext("电子属性/格式信息", ""), "path": entry.findtext("电子属性/计算机文件名", ""),
            "size": entry.findtext("电子属性/计算机文件大小", ""), "pages": entry.findtext("页数", ""),
            "sha256": digest.text if digest is not None else "",
            "algorithm": digest.get("算法") if digest is not None else "",
        })
    records = [{child.tag: (child.text or "") for child in entry} for entry in root.iterfind("业务实体/业务实体记录")]
    return {"fields": fields, "files": files, "records": records}
