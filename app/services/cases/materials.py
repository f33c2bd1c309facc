"""Write-once storage of scanned materials, addressed by SHA-256, with content sniffing."""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import CaseDocument, CaseMaterial

# Leading bytes of the formats a service centre scans; the extension is never trusted.
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)

# What a browser shows inline; OFD and TIFF scans are downloaded for a desktop viewer.
PREVIEWABLE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    content_type: str


def sniff_content_type(content: bytes) -> str | None:
    """The accepted type these bytes really are, or None."""
    for signature, content_type in _SIGNATURES:
        if content.startswith(signature):
            return content_type
    # OFD is a ZIP container whose entry list names OFD.xml near the start.
    if content.startswith(b"PK\x03\x04") and b"OFD.xml" in content[:4096]:
        return "application/ofd"
    return None


def path_for(sha256: str) -> Path:
    """Where the file with this digest lives."""
    return Path(current_app.config["MATERIALS_DIR"]) / sha256[:2] / sha256[2:4] / sha256


def store(content: bytes, content_type: str) -> StoredFile:
    """Write the bytes once (fsynced, read-only) before any row refers to them."""
    digest = hashlib.sha256(content).hexdigest()
    target = path_for(digest)
    if target.exists():
        _touch(target)  # in use again: the orphan sweep measures age from the last use
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredFile(sha256=digest, size=len(content), content_type=content_type)


def find_stored(sha256: str, content_type: str) -> StoredFile | None:
    """A file already in the store, re-checked by content, or None."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        return None
    path = path_for(sha256)
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        head = fh.read(4096)
    if sniff_content_type(head) != content_type:
        return None
    _touch(path)
    return StoredFile(sha256=sha256, size=path.stat().st_size, content_type=content_type)


def _touch(path: Path) -> None:
    os.utime(path)


def remove_orphans() -> int:
    """Delete stored files that no case material or document refers to and nobody used for a while.

    Uploads are stored before their case commits (and kept when a form is refused), so a file
    without a row is normal for a short time; only files untouched for the grace period go.
    """
    root = Path(current_app.config["MATERIALS_DIR"])
    cutoff = time.time() - current_app.config["ORPHAN_MATERIAL_GRACE_HOURS"] * 3600
    candidates = [p for p in root.glob("??/??/*") if p.is_file() and p.stat().st_mtime < cutoff]
    removed = 0
    for start in range(0, len(candidates), 500):
        batch = {p.name: p for p in candidates[start:start + 500]}
        referenced = set(db.session.scalars(select(CaseMaterial.sha256).where(CaseMaterial.sha256.in_(batch))))
        referenced |= set(db.session.scalars(select(CaseDocument.sha256).where(CaseDocument.sha256.in_(batch))))
        for name, path in batch.items():
            if name not in referenced:
                path.unlink(missing_ok=True)  # an interrupted upload's temp file also starts with '.'
                removed += 1
    return removed
