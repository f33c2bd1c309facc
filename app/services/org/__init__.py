"""The organisation: departments, user accounts, the audit of administrative changes, organisation files."""
from app.services.org.demo import (
    DEMO_DEPARTMENTS,
    DEMO_PASSWORD,
    create_user,
    ensure_department,
    foreign_accounts,
    seed_demo,
)
from app.services.org.departments import department_names

__all__ = ["DEMO_DEPARTMENTS", "DEMO_PASSWORD", "create_user", "department_names",
           "ensure_department", "foreign_accounts", "seed_demo"]
