"""flask commands: users, demo data, workflow deployment, the scheduler."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.extensions import db
from app.services import catalogue, org
from app.services.errors import ServiceError

workflows_cli = AppGroup("workflows", help="Deploy and check BPMN processes and service items.")


def _fail(exc: ServiceError) -> None:
    db.session.rollback()
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(1)


@click.command("create-user")
@with_appcontext
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--department", "departments", multiple=True, help="Department code; repeatable.")
@click.option("--display-name", default=None)
def create_user_command(username, password, roles, departments, display_name):
    """Create a user (or reset an existing one)."""
    try:
        org.create_user(username, password, list(roles), list(departments), display_name)
    except ServiceError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"user {username} saved with roles {' '.join(roles)}")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Demo departments and one user per role (see the README)."""
    users = org.seed_demo()
    db.session.commit()
    for user in users:
        click.echo(f"{user.username:<12} {user.roles:<12} {' '.join(user.department_codes)}")
    click.echo(f"password of every demo user: {org.DEMO_PASSWORD}")


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
    if report.failed:
        sys.exit(1)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the periodic jobs in this process (production: one or more of these)."""
    from app.jobs.runner import run_blocking_scheduler

    run_blocking_scheduler(current_app._get_current_object())


def register_commands(app: Flask) -> None:
    """Attach the commands to `flask`."""
    for command in (create_user_command, seed_demo_command, scheduler_command):
        app.cli.add_command(command)
    app.cli.add_command(workflows_cli)
