"""All models, imported here so Alembic and the app see the whole schema."""
from app.models.admin_audit import AdminAuditEntry, OrgImportFile
from app.models.api_token import ApiToken
from app.models.applicant import Applicant
from app.models.archive import ArchivePackage, ArchiveSerial
from app.models.calendar import CalendarDay, CalendarYear
from app.models.case import Case, CaseMaterial, CaseSerial, QueryGuard
from app.models.design import DesignEvent, FormVersion, ProcessDraft, ProcessMigration
from app.models.document import CaseDocument, DocumentSerial
from app.models.event import CaseEvent
from app.models.item import ServiceItem
from app.models.notification import Notification
from app.models.org import Department, User, user_departments
from app.models.process import ProcessVersion
from app.models.rating import CaseRating, RatingFollowUp
from app.models.security import AuthThrottle, UserSession
from app.models.supervision import Alert, OutboxMessage, SupervisionOrder
from app.models.work_item import WorkItem

__all__ = [
    "AdminAuditEntry", "AuthThrottle", "OrgImportFile", "UserSession",
    "Alert", "CalendarDay", "CalendarYear", "OutboxMessage", "SupervisionOrder",
    "ApiToken", "Applicant", "ArchivePackage", "ArchiveSerial", "Case", "CaseDocument", "CaseEvent", "CaseMaterial", "CaseRating",
    "CaseSerial", "Department", "DesignEvent", "FormVersion", "ProcessDraft", "ProcessMigration", "DocumentSerial", "ProcessVersion", "QueryGuard", "RatingFollowUp",
    "Notification", "ServiceItem", "User", "WorkItem", "user_departments",
]
