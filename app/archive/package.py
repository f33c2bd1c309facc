"""Writing a package: a ZIP of the case's files, then its metadata XML and SHA-256 manifest.

Files are copied in chunks and hashed on the way, so a case with large scans never sits in memory.
The ZIP is written under a temporary name beside its target and renamed into place only when
complete and flushed to disk; a failure (disk full, a material altered) leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from app.archive import metadata as metadata_xml
from app.archive.formats import detect_format

CHUNK = 1024 * 1024
METADATA_NAME = "metadata.xml"
MANIFEST_NAME = "manifest-sha256.txt"
# Scans and PDFs barely compress; storing them keeps filing fast. Text is deflated.
_DEFLATED_FORMATS = {"JSON", "XML", "TXT"}
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


class MaterialProblem(Exception):
    """A file that must go into the package is missing or is not the file that was received."""


@dataclass
class PackedFile:
    """One file in the package and its 电子属性 as written."""

    path: str
    title: str
    kind: str  # 依据材料 / 过程材料 / 结果材料 / 业务记录
    sha256: str = ""
    size: int = 0
    format: str = ""
    pages: int = 0


@dataclass
class PackageResult:
    path: Path
    sha256: str
    size: int
    files: list[PackedFile] = field(default_factory=list)


class PackageWriter:
    """Add files, then `seal(metadata)`; use as a context manager so a failure removes the partial file."""

    def __init__(self, target: Path, written_at: datetime) -> None:
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        self._partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        self._zip = zipfile.ZipFile(self._partial, "w", allowZip64=True)
        self._stamp = written_at.timetuple()[:6]
        self.files: list[PackedFile] = []

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()

    def _entry(self, path: str, fmt: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED if fmt in _DEFLATED_FORMATS else zipfile.ZIP_STORED
        info.external_attr = 0o444 << 16
        return info

    def add_file(self, path: str, title: str, kind: str, source: Path, expected_sha256: str | None = None,
                 expected_size: int | None = None) -> PackedFile:
        """Copy a file from disk into the package; MaterialProblem when missing or not the expected bytes."""
        try:
            handle = source.open("rb")
        except FileNotFoundError:
            raise MaterialProblem(f"{title}: file {source.name} is missing from the store") from None
        with handle:
            head = handle.read(CHUNK)
            packed = PackedFile(path, title, kind, format=detect_format(head, path))
            digest, size, pages, tail = hashlib.sha256(), 0, 0, b""
            with self._zip.open(self._entry(path, packed.format), "w", force_zip64=True) as out:
                chunk = head
                while chunk:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if packed.format == "PDF":  # a page marker may straddle two chunks
                        window = tail + chunk
                        pages += len(_PDF_PAGE.findall(window)) - len(_PDF_PAGE.findall(tail))
                        tail = window[-64:]
                    chunk = handle.read(CHUNK)
        packed.sha256, packed.size = digest.hexdigest(), size
        packed.pages = pages if packed.format == "PDF" else int(packed.format in {"PNG", "JPEG", "TIFF"})
        if (expected_sha256 and packed.sha256 != expected_sha256) or expected_size not in (None, size):
            raise MaterialProblem(f"{title}: file {source.name} has changed since it was received "
                                  "(its SHA-256 differs)")
        self.files.append(packed)
        return packed

    def add_bytes(self, path: str, title: str, kind: str, content: bytes) -> PackedFile:
        """Add a file written by the filing itself (form data, event log)."""
        packed = PackedFile(path, title, kind, sha256=hashlib.sha256(content).hexdigest(), size=len(content),
                            format=detect_format(content[:CHUNK], path))
        self._zip.writestr(self._entry(path, packed.format), content)
        self.files.append(packed)
        return packed

    def seal(self, record: metadata_xml.PackageRecord) -> PackageResult:
        """Write the metadata and the manifest, flush to disk and move the package into place, read-only."""
        try:
            document = metadata_xml.build(record, self.files)
            self._zip.writestr(self._entry(METADATA_NAME, "XML"), document)
            lines = [f"{f.sha256}  {f.path}" for f in self.files]
            lines.append(f"{hashlib.sha256(document).hexdigest()}  {METADATA_NAME}")
            self._zip.writestr(self._entry(MANIFEST_NAME, "TXT"), ("\n".join(lines) + "\n").encode())
            self._zip.close()
            with self._partial.open("rb") as handle:
                os.fsync(handle.fileno())
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            os.chmod(self._partial, 0o444)  # write-once: nobody writes a sealed package again
            os.replace(self._partial, self.target)
            _fsync_directory(self.target.parent)
        except BaseException:
            self._discard()
            raise
        return PackageResult(self.target, digest, self.target.stat().st_size, list(self.files))

    def _discard(self) -> None:
        try:
            self._zip.close()
        except Exception:  # noqa: BLE001 - closing a broken zip on the way out; the first error matters
            pass
        self._partial.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
