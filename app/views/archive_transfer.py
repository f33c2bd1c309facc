"""Transfer export (移交): a year or retention class of sealed packages as one batch with its transfer list."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("archive_transfer", __name__, url_prefix="/archive/transfer")
