"""Admin page of the outbox: how many messages wait, which failed and why, and "retry now"."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.auth import roles_required
from app.errors import NotFound
from app.services.notices import outbox

bp = Blueprint("admin_outbox", __name__, url_prefix="/admin")

STATUS_LABELS = {"pending": _l("Pending"), "sent": _l("Sent"), "failed": _l("Failed")}
CHANNEL_LABELS = {"inapp": _l("In-app"), "email": _l("E-mail"), "webhook": _l("Webhook")}


@bp.route("/outbox")
@roles_required("admin")
def index():
    failed, retrying = outbox.troubled_messages(current_app.config["PAGE_SIZE"])
    return render_template("admin/outbox.html", counts=outbox.status_counts(), failed=failed, retrying=retrying,
                           limit=current_app.config["PAGE_SIZE"], status_labels=STATUS_LABELS,
                           channel_labels=CHANNEL_LABELS)


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@roles_required("admin")
def retry(message_id: int):
    if not outbox.retry_now(message_id):
        # Unknown, or sent meanwhile (perhaps by the attempt that was already running).
        raise NotFound(_("This message does not exist or has already been sent."))
    flash(_("The message will be retried shortly."), "success")
    return redirect(url_for("admin_outbox.index"))


@bp.route("/outbox/retry-failed", methods=["POST"])
@roles_required("admin")
def retry_failed():
    count = outbox.retry_now()
    flash(_("Failed messages queued for retry: %(count)d.", count=count), "success")
    return redirect(url_for("admin_outbox.index"))
