"""Archivist pages (档案管理): search packages, package detail and check report, retention expiry."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("archive", __name__, url_prefix="/archive")
