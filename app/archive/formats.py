"""File formats an archival package accepts (GB/T 42727: PDF, OFD, JPEG, PNG, TIFF, XML) and how to tell them."""
from __future__ import annotations

import json

from lxml import etree

ACCEPTED_FORMATS = ("PDF", "OFD", "JPEG", "PNG", "TIFF", "XML", "JSON", "TXT")
_SIGNATURES = ((b"%PDF-", "PDF"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"),
               (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_TEXT_SUFFIXES = {".json": "JSON", ".xml": "XML", ".txt": "TXT"}


def detect_format(head: bytes, name: str) -> str:
    """The format of a file from its first bytes (text files by their suffix); "UNKNOWN" otherwise."""
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return fmt
    if head.startswith(b"PK\x03\x04") and b"OFD.xml" in head[:4096]:
        return "OFD"
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return _TEXT_SUFFIXES.get(suffix, "UNKNOWN")


def safe_xml_parser() -> etree.XMLParser:
    """No DTD, no entities, no network: a package's XML can never reach outside itself."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def open_problem(fmt: str, head: bytes, tail: bytes, whole: bytes | None) -> str | None:
    """Why a file does not open as its format (or is encrypted), or None. `whole` is given for text files."""
    if fmt == "PDF":
        if b"%%EOF" not in tail:
            return "PDF is truncated (no %%EOF)"
        if b"/Encrypt" in head or b"/Encrypt" in tail:
            return "PDF is encrypted"
    elif fmt == "JPEG" and not tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "JPEG is truncated"
    elif fmt == "PNG" and b"IEND" not in tail:
        return "PNG is truncated"
    elif fmt == "JSON":
        try:
            json.loads(whole or b"")
        except ValueError as exc:
            return f"JSON does not parse: {exc}"
    elif fmt == "XML":
        try:
            etree.fromstring(whole or b"", safe_xml_parser())
        except etree.XMLSyntaxError as exc:
            return f"XML does not parse: {exc}"
    elif fmt == "UNKNOWN":
        return "format not accepted for archiving"
    return None
