"""flask org …: import and export the whole organisation (departments, users, roles, memberships)."""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from app.errors import ServiceError
from app.extensions import db
from app.services.org import org_export, org_import

org_cli = AppGroup("org", help="The organisation: import or export departments and users as CSV or XLSX.")


def _summary(plan: org_import.ImportPlan, planned: bool) -> str:
    counts = plan.counts()
    verbs = ("to create", "to update", "unchanged") if planned else ("created", "updated", "unchanged")
    return "; ".join(f"{noun}: " + ", ".join(f"{counts[noun][action]} {verb}" for action, verb
                                              in zip(("create", "update", "unchanged"), verbs, strict=True))
                     for noun in ("departments", "users"))


def _print_problems(problems) -> None:
    for problem in problems:
        where = f"row {problem.row}" if problem.row else "file"
        column = f", {problem.column}" if problem.column else ""
        click.echo(f"{where}{column}: {problem.message}", err=True)
    click.echo(f"{len(problems)} problems; nothing was imported.", err=True)


def _write_passwords(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """First passwords to a new file only this user can read; never over an existing file."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("username", "display_name", "first_password"))
        writer.writerows(rows)


@org_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and list every problem; change nothing.")
@click.option("--passwords-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the first passwords of new accounts to this new file instead of the screen.")
def import_command(file: Path, dry_run: bool, passwords_file: Path | None):
    """Create or update the departments and users of FILE (.csv in UTF-8, or .xlsx): all or nothing."""
    if passwords_file is not None and passwords_file.exists():
        raise click.BadParameter(f"{passwords_file} exists; choose a new file", param_hint="--passwords-file")
    content = file.read_bytes()
    if dry_run:
        plan = org_import.plan_import(file.name, content)
        db.session.rollback()
        if not plan.ok:
            _print_problems(plan.problems)
            sys.exit(1)
        click.echo(f"{file.name}: no problems. {_summary(plan, planned=True)}")
        return
    try:
        result = org_import.apply_import(file.name, content, None, "cli")
    except org_import.ImportRefused:
        db.session.rollback()
        _print_problems(org_import.plan_import(file.name, content).problems)
        sys.exit(1)
    except ServiceError as exc:
        db.session.rollback()
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"{file.name} imported. {_summary(result.plan, planned=False)}")
    if not result.new_passwords:
        return
    if passwords_file is not None:
        _write_passwords(passwords_file, result.new_passwords)
        click.echo(f"first passwords of {len(result.new_passwords)} new accounts written to {passwords_file}; "
                   "each is changed at its first login")
        return
    click.echo("first passwords of the new accounts (each is changed at its first login):")
    for username, display_name, password in result.new_passwords:
        click.echo(f"  {username:<20} {password}  {display_name}")


@org_cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_command(file: Path):
    """Write the whole organisation to FILE (.csv or .xlsx), in the format import reads."""
    kind = "xlsx" if file.suffix.lower() == ".xlsx" else "csv"
    file.write_bytes(org_export.export_file(kind))
    click.echo(f"organisation written to {file}")
