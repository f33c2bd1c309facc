"""Display labels of stored codes (statuses, actions, results …), in the request's language."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    "pre_review": _l("Awaiting intake decision"),
    "in_progress": _l("In progress"),
    "pending_supplement": _l("Awaiting supplement"),
    "suspended": _l("Suspended"),
    "completed": _l("Completed"),
    "refused": _l("Refused"),
    "withdrawn": _l("Withdrawn"),
    "returned": _l("Returned (no supplement)"),
}
ACTION_LABELS = {
    "case_submitted": _l("Application submitted"),
    "intake_accept": _l("Accepted (受理)"),
    "intake_accept_with_deficiency": _l("Accepted with a material missing (容缺受理)"),
    "intake_supplement": _l("One-time notice of missing materials (补正告知)"),
    "intake_refuse": _l("Not accepted (不予受理)"),
    "supplement_registered": _l("Supplement registered"),
    "document_issued": _l("Document issued"),
    "task_assigned": _l("Assigned by the department head"),
    "task_returned": _l("Returned (退回)"),
    "task_transferred": _l("Transferred (转办)"),
    "case_suspended": _l("Suspended (挂起)"),
    "case_resumed": _l("Resumed"),
    "limit_extended": _l("Time limit extended (延长审批)"),
    "supervision_ordered": _l("Supervision order issued (督办)"),
    "supervision_replied": _l("Supervision order answered"),
    "supplement_requested": _l("Supplement requested during handling (补正)"),
    "case_withdrawn": _l("Withdrawn at the applicant's request (撤件)"),
    "case_rated": _l("Rated by the applicant (好差评)"),
    "rating_follow_up_opened": _l("Bad rating follow-up opened"),
    "rating_follow_up_noted": _l("Follow-up note"),
    "rating_follow_up_replied": _l("Follow-up reply to the applicant"),
    "task_routed": _l("Routed to department"),
    "task_claimed": _l("Task claimed"),
    "task_released": _l("Task released"),
    "task_completed": _l("Step completed"),
    "task_cancelled": _l("Step withdrawn by the process"),
    "timer_failed": _l("Timer failed"),
    "case_finished": _l("Case finished"),
}
RESULT_LABELS = {"granted": _l("Granted"), "refused": _l("Refused"), "withdrawn": _l("Withdrawn"),
                 "not_accepted": _l("Not accepted"), "returned": _l("Returned (no supplement)")}
ID_TYPE_LABELS = {
    "resident_id": _l("Citizen ID card (居民身份证)"),
    "passport": _l("Passport"),
    "hk_macao_permit": _l("Home-return permit (Hong Kong / Macao)"),
    "taiwan_permit": _l("Mainland travel permit for Taiwan residents"),
    "uscc": _l("Unified social credit code"),
}
DECISION_LABELS = {
    "accept": _l("Accept (受理)"),
    "accept_with_deficiency": _l("Accept with a missing material (容缺受理)"),
    "supplement": _l("One-time notice (补正告知)"),
    "refuse": _l("Refuse (不予受理)"),
}
CASE_TYPE_LABELS = {"immediate": _l("On-the-spot (即办件)"), "committed": _l("Committed deadline (承诺件)")}
UNIT_LABELS = {"working_day": _l("working days"), "calendar_day": _l("calendar days"), "hour": _l("hours")}
SUSPENSION_LABELS = {
    "hearing": _l("Hearing (听证)"),
    "testing": _l("Testing or inspection (检验检测)"),
    "appraisal": _l("Appraisal (鉴定)"),
    "expert_review": _l("Expert review (专家评审)"),
    "public_notice": _l("Public notice (公示)"),
    "site_check": _l("Site check (实地核查)"),
    "other": _l("Other suspension (挂起)"),
}
NOTIFICATION_LABELS = {
    "task_arrived": _l("New task"),
    "task_returned": _l("Returned"),
    "task_transferred": _l("Transferred"),
    "task_assigned": _l("Assigned to you"),
    "supervision_order": _l("Supervision order (督办)"),
    "supervision_replied": _l("Reply to your supervision order"),
    "alert": _l("Alert"),
}
ROLE_LABELS = {
    "admin": _l("Administrator"),
    "designer": _l("Process designer"),
    "front_desk": _l("Front desk"),
    "handler": _l("Handler"),
    "dept_head": _l("Department head"),
    "supervisor": _l("Supervisor"),
    "archivist": _l("Archivist"),
}
AUDIT_ACTION_LABELS = {
    "department.created": _l("Department created"),
    "department.updated": _l("Department changed"),
    "user.created": _l("User created"),
    "user.updated": _l("User changed"),
    "user.deactivated": _l("User deactivated"),
    "user.password_changed": _l("Own password changed"),
    "organisation.imported": _l("Organisation file imported"),
}
AUDIT_CHANNEL_LABELS = {"page": _l("page"), "api": _l("API"), "cli": _l("command line"), "import": _l("import")}
AUDIT_FIELD_LABELS = {
    "username": _l("Username"), "display_name": _l("Display name"), "roles": _l("Roles"),
    "departments": _l("Departments"), "head_of": _l("Heads"), "active": _l("Active"), "email": _l("E-mail"),
    "mobile": _l("Mobile"), "must_change_password": _l("Must change password"), "password": _l("Password"),
    "code": _l("Code"), "name": _l("Department name"), "name_en": _l("English name"),
    "parent": _l("Parent department"), "heads": _l("Heads"), "sha256": "SHA-256",
    "users": _l("Users"), "create": _l("Created"), "update": _l("Updated"), "unchanged": _l("Unchanged"),
}
