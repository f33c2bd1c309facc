"""Serve front-end libraries installed from the npm registry at set-up (never committed)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, send_from_directory

from app.auth import public
from app.config import PROJECT_ROOT

# Only the dist folders of known packages are reachable.
VENDOR_DIRS = {
    "bootstrap": "bootstrap/dist",
    "bpmn-js": "bpmn-js/dist",
    "htmx": "htmx.org/dist",
}


def register(app: Flask) -> None:
    """Add the /vendor/<package>/<file> route."""
    root = Path(app.config.get("NODE_MODULES_DIR", PROJECT_ROOT / "node_modules"))

    @public
    def vendor_file(package: str, filename: str):
        folder = VENDOR_DIRS.get(package)
        if folder is None:
            abort(404)
        return send_from_directory(root / folder, filename, max_age=86400)

    app.add_url_rule("/vendor/<package>/<path:filename>", "vendor", vendor_file)
