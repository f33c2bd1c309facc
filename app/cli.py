"""flask commands: users, demo data, workflow deployment, the calendar, the scheduler and its jobs."""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.archive_cli import archive_cli
from app.errors import ServiceError
from app.extensions import db
from app.org_cli import org_cli
from app.services import org
from app.services.calendar import business_calendar
from app.services.processes import catalogue
from app.services.processes import checks as process_checks

workflows_cli = AppGroup("workflows", help="Deploy and check BPMN processes and service items.")
calendar_cli = AppGroup("calendar", help="The business calendar: public holidays and make-up working days.")
jobs_cli = AppGroup("jobs", help="Run a periodic job by hand, optionally as if at another moment.")


def _fail(exc: ServiceError) -> None:
    db.session.rollback()
    click.echo(f"error: {exc.message}", err=True)
    for name, message in (exc.fields or {}).items():
        click.echo(f"  {name}: {message}", err=True)
    sys.exit(1)


@click.command("create-user")
@with_appcontext
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for when not given (keeps it out of the shell history).")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--department", "departments", multiple=True, help="Department code; repeatable.")
@click.option("--display-name", default=None)
def create_user_command(username, password, roles, departments, display_name):
    """Create a user, or reset an existing one (who then chooses a new password at next login)."""
    try:
        # A reset here is an administrator's reset: the user replaces the password at next login.
        org.create_user(username, password, list(roles), list(departments), display_name,
                        must_change_password=True)
    except ServiceError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"user {username} saved with roles {' '.join(roles)}")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Demo departments and one user per role with a published password (first run only, see the README)."""
    foreign = org.foreign_accounts()
    if foreign:
        # A real organisation lives here: never add accounts whose password is printed in the README.
        click.echo(f"demo data not loaded: this database holds {len(foreign)} accounts of a real organisation")
        return
    users = org.seed_demo()
    db.session.commit()
    for user, created in users:
        note = "" if created else "  (already there: unchanged)"
        click.echo(f"{user.username:<12} {user.roles:<12} {' '.join(user.department_codes)}{note}")
    click.echo(f"password of every new demo user: {org.DEMO_PASSWORD}")


@workflows_cli.command("deploy")
def deploy_command():
    """Deploy changed BPMN files and item data files from the workflows folder."""
    report = catalogue.deploy_directory(current_app.config["WORKFLOWS_DIR"])
    db.session.commit()
    for name in report.deployed:
        click.echo(f"deployed  {name}")
    for name in report.unchanged:
        click.echo(f"unchanged {name}")
    for code in report.items:
        click.echo(f"item      {code}")
    for name, message in report.failed.items():
        click.echo(f"REFUSED   {name}: {message}", err=True)
    if report.failed and not org.department_names(False):
        click.echo("No departments exist yet: BPMN lanes name department codes. Load your organisation first:\n"
                   "  flask org import organisation.csv   (start from app/data/org/example-organisation.csv)\n"
                   "then run flask workflows deploy again.", err=True)
    if report.failed:
        sys.exit(1)


@workflows_cli.command("check")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--process-id", default=None, help="Process to check when a file has several executable ones.")
def check_command(files, process_id):
    """Run the deployment checks on BPMN files (default: every file of the workflows folder).

    Prints one line per problem (file:line: severity [element] message); exit 1 on any error.
    """
    paths = list(files) or sorted(Path(current_app.config["WORKFLOWS_DIR"]).glob("*.bpmn"))
    failed = False
    for path in paths:
        check = process_checks.check_process(path.read_bytes(), process_id or (path.stem if not files else None))
        for finding in check.findings:
            where = f"{path.name}:{finding.line}" if finding.line else path.name
            element = f" [{finding.element_id}]" if finding.element_id else ""
            click.echo(f"{where}: {finding.severity}{element} {finding.message}", err=finding.severity == "error")
        failed = failed or not check.ok
        click.echo(f"{path.name}: {'ok' if check.ok else 'REFUSED'} ({len(check.errors)} errors, "
                   f"{len(check.warnings)} warnings)")
    if failed:
        sys.exit(1)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the periodic jobs in this process (production: one or more of these)."""
    from app.jobs.runner import run_blocking_scheduler

    run_blocking_scheduler(current_app._get_current_object())


@calendar_cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", type=int, default=None, help="Year of a CSV file whose name does not give it.")
def calendar_import_command(files, year):
    """Replace the years of <year>.toml files or CSV files (date,kind[,note]); all or nothing."""
    imported = []
    for path in files:
        try:
            imported.append((path.name, business_calendar.import_file(path.name, path.read_bytes(), None, year).year))
        except ServiceError as exc:
            db.session.rollback()
            click.echo(f"error: {path.name}: {exc.message}", err=True)
            sys.exit(1)
    counts = [(name, imported_year, business_calendar.working_days_in(imported_year)) for name, imported_year in imported]
    db.session.commit()
    for name, imported_year, count in counts:
        click.echo(f"{imported_year}: {name}, {count} working days")


@calendar_cli.command("seed")
def calendar_seed_command():
    """Import the shipped calendar files of years the database does not have (as seed-demo does)."""
    years = business_calendar.seed_shipped_years()
    db.session.commit()
    click.echo(f"imported {', '.join(map(str, years))}" if years else "every shipped year is already there")


@calendar_cli.command("list")
def calendar_list_command():
    """The stored years with their working days."""
    for summary in business_calendar.year_summaries():
        click.echo(f"{summary.year}  {summary.working_days} working days  {summary.holidays} holidays  "
                   f"{summary.workdays} make-up days  source {summary.source or '-'}")


def _instant(text: str) -> datetime:
    """An aware datetime from ISO 8601; a bare date or a missing offset is a usage error."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 instant with an offset, "
                                 "e.g. 2030-01-01T00:00:00+08:00", param_hint="--at")
    return value


@jobs_cli.command("run")
@click.argument("job_id")
@click.option("--at", "at_text", metavar="INSTANT", default=None,
              help="Run as if it were this ISO 8601 instant, e.g. 2030-01-01T00:00:00+08:00.")
def jobs_run_command(job_id, at_text):
    """Run one job once in one transaction (commit on success) and print what it returned."""
    from app.jobs import JOBS
    from app.jobs.runner import run_job_once

    known = [known_id for known_id, _function, _interval in JOBS]
    if job_id not in known:
        raise click.BadParameter(f"unknown job {job_id!r}; the jobs are {', '.join(known)}", param_hint="JOB_ID")
    at = _instant(at_text) if at_text else None
    try:
        result = run_job_once(current_app._get_current_object(), job_id, at)
    except Exception as exc:  # noqa: BLE001 - any failure: nothing was saved, say so and exit non-zero
        click.echo(f"error: {job_id} failed and was rolled back: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{job_id}{f' at {at.isoformat()}' if at else ''}: {result}")


def register_commands(app: Flask) -> None:
    """Attach the commands to `flask`."""
    for command in (create_user_command, seed_demo_command, scheduler_command):
        app.cli.add_command(command)
    for group in (workflows_cli, calendar_cli, jobs_cli, archive_cli, org_cli):
        app.cli.add_command(group)
