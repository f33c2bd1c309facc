"""The process designer's verbs: open and save drafts, deploy them, upload files from a desktop modeller.

Every save, upload and deploy is a design event. Deploying makes a new process version: running
cases keep theirs until someone migrates them (see `process_migration`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import DesignEvent, ProcessDraft, ProcessVersion, ServiceItem, User
from app.models.base import utcnow
from app.services.processes import catalogue, form_versions
from app.services.processes.checks import ProcessCheck, ProcessRefused, check_process
from app.taskforms.registry import is_form_key

# Problems that make a file unsafe or unreadable: such a file is not even kept as a draft.
_UNREADABLE = ("xml.",)
_NEW_PROCESS = Path(__file__).resolve().parents[2] / "data" / "new_process.bpmn"
_ITEM_FIELDS = ("code", "name", "name_en", "description", "fee", "legal_basis", "supplement_days", "pre_review_days",
                "case_type", "intake_form", "retention", "classification", "materials")


@dataclass
class DraftView:
    """What the modeller opens: the saved draft, or the newest version when there is no draft."""

    process_id: str
    revision: int
    bpmn: str
    forms: dict
    item: dict | None
    updated_by: str | None
    updated_at: datetime | None
    base_version: int | None


def record(process_id: str, action: str, actor: User | None, **details) -> DesignEvent:
    """Append a design event (draft saved, deployed, uploaded, migration run)."""
    event = DesignEvent(process_id=process_id, action=action, actor_id=actor.id if actor else None,
                        actor_name=actor.display_name if actor else "system", details=details or None, at=utcnow())
    db.session.add(event)
    return event


def item_settings(process_id: str) -> dict | None:
    """The settings of the service item running on this process, in the shape of an item file."""
    item = db.session.scalar(select(ServiceItem).where(ServiceItem.process_id == process_id)
                             .order_by(ServiceItem.is_active.desc(), ServiceItem.id).limit(1))
    if item is None:
        return None
    settings = {field: getattr(item, field) for field in _ITEM_FIELDS if getattr(item, field) is not None}
    settings["statutory_limit"] = catalogue.item_limit(item.statutory_limit_value, item.statutory_limit_unit)
    settings["committed_limit"] = catalogue.item_limit(item.committed_limit_value, item.committed_limit_unit)
    return settings


def _draft(process_id: str, lock: bool = False) -> ProcessDraft | None:
    query = select(ProcessDraft).where(ProcessDraft.process_id == process_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def open_draft(process_id: str) -> DraftView:
    """The draft to edit; NotFound when the process has neither a draft nor a version."""
    draft = _draft(process_id)
    latest = catalogue.current_version(process_id)
    if draft is not None:
        base = db.session.get(ProcessVersion, draft.base_version_id) if draft.base_version_id else None
        return DraftView(process_id, draft.revision, draft.bpmn_xml, draft.forms or {}, draft.item,
                         draft.updated_by.display_name if draft.updated_by else None, draft.updated_at,
                         base.version if base else None)
    if latest is None:
        raise NotFound(_("There is no process %(process)s.", process=process_id))
    return DraftView(process_id, 0, latest.bpmn_xml, {}, item_settings(process_id), None, None, latest.version)


def _shape_checked(bpmn: object, forms: object, item: object) -> bytes:
    if not isinstance(bpmn, str) or not bpmn.strip():
        raise ValidationFailed(_("The draft has no BPMN document."))
    if not isinstance(forms, dict) or not all(isinstance(schema, dict) for schema in forms.values()):
        raise ValidationFailed(_("Forms must be an object of form keys to form definitions."))
    if item is not None and not isinstance(item, dict):
        raise ValidationFailed(_("The service item settings must be an object or null."))
    try:
        return bpmn.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(_("The BPMN document holds characters that cannot be stored.")) from None


def _item_given(item: dict | None) -> dict | None:
    """Item settings without the fields left empty in the modeller (and without the implied process id)."""
    if item is None:
        return None
    return {key: value for key, value in item.items() if value not in (None, "") and key != "process_id"}


def check_draft(process_id: str, bpmn: object, forms: object, item: object) -> ProcessCheck:
    """Every deployment check of an edited draft, without saving anything."""
    xml = _shape_checked(bpmn, forms, item)
    return check_process(xml, process_id, forms, _item_given(item), catalogue.ITEM_FILE_SCHEMA)


def _stale(draft: ProcessDraft) -> Conflict:
    who = draft.updated_by.display_name if draft.updated_by else _("someone")
    return Conflict(_("%(who)s saved this draft at %(when)s (revision %(revision)s) after you opened it. "
                      "Nothing was overwritten: reload their version, or copy your changes first.",
                      who=who, when=format_datetime(draft.updated_at, "short"), revision=draft.revision))


def save_draft(process_id: str, revision: object, bpmn: object, forms: object, item: object,
               actor: User) -> tuple[ProcessDraft, ProcessCheck]:
    """Save the whole draft if nobody saved it since `revision`; Conflict otherwise.

    A draft may still fail the deployment checks (that is what drafts are for), but an unsafe or
    unreadable file is refused outright.
    """
    _check_process_id(process_id)
    _check_revision(revision)
    check = check_draft(process_id, bpmn, forms, item)
    unreadable = [f for f in check.errors if f.code.startswith(_UNREADABLE)]
    if unreadable:
        raise ProcessRefused(check)
    if check.engine.process_id not in (None, process_id):
        raise ValidationFailed(_("The document's process is %(found)s, not %(process)s.",
                                 found=check.engine.process_id, process=process_id))
    draft = _draft(process_id, lock=True)
    if draft is None:
        if revision != 0:
            raise Conflict(_("This draft was deployed or removed after you opened it. Reload the page."))
        latest = catalogue.current_version(process_id)
        draft = ProcessDraft(process_id=process_id, revision=0, bpmn_xml=bpmn, forms=forms,
                             base_version_id=latest.id if latest else None)
        try:
            with db.session.begin_nested():
                db.session.add(draft)
                db.session.flush()
        except IntegrityError:
            raise _stale(_draft(process_id)) from None
    elif draft.revision != revision:
        raise _stale(draft)
    draft.bpmn_xml, draft.forms, draft.item = bpmn, forms, _item_given(item)
    draft.revision += 1
    draft.updated_at = utcnow()
    draft.updated_by = actor
    record(process_id, "draft_saved", actor, revision=draft.revision,
           sha256=hashlib.sha256(bpmn.encode()).hexdigest(), errors=len(check.errors))
    return draft, check


def _check_revision(revision: object) -> None:
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ValidationFailed(_("The draft revision must be a whole number."))


def _check_process_id(process_id: str) -> None:
    if not catalogue.PROCESS_ID_SHAPE.fullmatch(process_id or ""):
        raise ValidationFailed(_("A process id starts with a letter and holds letters, digits and _ . - only "
                                 "(at most 100)."))


def _deploy(check: ProcessCheck, xml: bytes, source_file: str, forms: dict, item: dict | None,
            actor: User | None) -> tuple[ProcessVersion, list[str]]:
    """Store the version, then the forms that changed, then the item; returns the version and those forms."""
    version = catalogue.store_version(check.engine.parsed, xml, source_file, actor)
    deployed_forms = [key for key, schema in sorted(forms.items())
                      if form_versions.deploy_form(key, schema, actor, version.id) is not None]
    if item is not None:
        catalogue.upsert_item({**item, "process_id": version.process_id})
    return version, deployed_forms


def deploy_draft(process_id: str, revision: object, actor: User) -> tuple[ProcessVersion, ProcessCheck]:
    """Deploy the saved draft revision as the process's next version, with its forms and item settings."""
    _check_revision(revision)
    draft = _draft(process_id, lock=True)
    if draft is None:
        raise NotFound(_("There is no saved draft of %(process)s to deploy.", process=process_id))
    if draft.revision != revision:
        raise _stale(draft)
    latest = catalogue.current_version(process_id)
    xml = draft.bpmn_xml.encode("utf-8")
    if latest is not None and latest.id != draft.base_version_id:
        raise Conflict(_("Version %(version)s was deployed after this draft was started; deploying the draft "
                         "would undo it. Download the draft, open the new version and make the changes there.",
                         version=latest.version))
    check = check_draft(process_id, draft.bpmn_xml, draft.forms or {}, draft.item)
    if not check.ok:
        raise ProcessRefused(check)
    if latest is not None and latest.sha256 == hashlib.sha256(xml).hexdigest() and all(
            form_versions.is_current(key, schema) for key, schema in (draft.forms or {}).items()):
        return latest, check  # this revision is what runs already (a second click on Deploy)
    version, forms = _deploy(check, xml, f"{process_id}.bpmn", draft.forms or {}, draft.item, actor)
    draft.base_version_id = version.id
    record(process_id, "deployed", actor, version=version.version, revision=draft.revision,
           sha256=version.sha256, forms=forms, warnings=len(check.warnings))
    return version, check


def upload(xml: bytes, source_file: str, forms: dict, actor: User, process_id: str | None = None,
           check_only: bool = False) -> tuple[ProcessVersion | None, ProcessCheck]:
    """Check an uploaded BPMN file (and forms) and deploy it unless `check_only`.

    Returns (None, check) when only checking, or when the file and forms equal what is deployed.
    """
    check = check_process(xml, process_id, forms)
    if not check.ok:
        raise ProcessRefused(check)
    if check_only:
        return None, check
    process_id = check.engine.process_id
    _check_process_id(process_id)
    latest = catalogue.current_version(process_id)
    unchanged_forms = all(form_versions.is_current(key, schema) for key, schema in forms.items())
    if latest is not None and latest.sha256 == hashlib.sha256(xml).hexdigest() and unchanged_forms:
        return None, check
    version, deployed_forms = _deploy(check, xml, source_file, forms, None, actor)
    record(process_id, "uploaded", actor, version=version.version, file=source_file, sha256=version.sha256,
           forms=deployed_forms, warnings=len(check.warnings))
    return version, check


def forms_from_files(files: list[tuple[str, bytes]]) -> dict:
    """Form definitions from uploaded `<form key>.json` files; ValidationFailed names the bad file."""
    forms = {}
    for filename, content in files:
        key = filename.rsplit("/", 1)[-1].removesuffix(".json")
        if not filename.endswith(".json") or not is_form_key(key):
            raise ValidationFailed(_("Form file %(file)s must be named <form key>.json, the key in lowercase "
                                     "letters, digits and underscores.", file=filename))
        try:
            forms[key] = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationFailed(_("Form file %(file)s is not valid JSON: %(reason)s", file=filename,
                                     reason=str(exc))) from None
    return forms


def create_process(process_id: str, name: str, actor: User) -> ProcessDraft:
    """Start a new process as a draft from a small template (intake at the window, then the end)."""
    _check_process_id(process_id)
    if catalogue.current_version(process_id) is not None or _draft(process_id) is not None:
        raise Conflict(_("Process %(process)s already exists.", process=process_id))
    draft, _check = save_draft(process_id, 0, new_process_bpmn(process_id, name), {}, None, actor)
    return draft


def new_process_bpmn(process_id: str, name: str) -> str:
    """A minimal process with a diagram: start, the window's intake task, end."""
    return _NEW_PROCESS.read_text(encoding="utf-8").format(process_id=process_id, name=quoteattr(name))
