"""flask archive …: re-verify sealed packages, check a transfer batch, file the queue by hand."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import ArchivePackage
from app.services import filing

archive_cli = AppGroup("archive", help="Archival packages: verify sealed packages and transfer batches.")


def _print_report(label: str, report: list[dict]) -> bool:
    failing = [check for check in report if check["result"] == "fail"]
    click.echo(f"{label}: {'FAIL' if failing else 'OK'}")
    for check in failing:
        click.echo(f"  {check['code']} ({check['property']}): {check['message']}")
    return not failing


@archive_cli.command("verify")
@click.argument("archival_code", required=False)
@click.option("--all", "verify_all", is_flag=True, help="Verify every sealed package.")
def verify_command(archival_code: str | None, verify_all: bool) -> None:
    """Re-hash and re-check sealed packages; exit status 1 when any differs from what was sealed."""
    if bool(archival_code) == verify_all:
        raise click.UsageError("give either a 档号 or --all")
    query = select(ArchivePackage).where(ArchivePackage.state == "sealed").order_by(ArchivePackage.id)
    if archival_code:
        query = query.where(ArchivePackage.archival_code == archival_code)
    packages = list(db.session.scalars(query))
    if not packages:
        click.echo(f"error: no sealed package {archival_code or ''}".rstrip(), err=True)
        sys.exit(1)
    results = [_print_report(package.archival_code, report) for package, report in filing.verify(packages)]
    db.session.commit()  # the reports are stored with the packages
    click.echo(f"{results.count(True)} of {len(results)} packages verified")
    sys.exit(0 if all(results) else 1)


@archive_cli.command("file")
def file_command() -> None:
    """Build and seal the queued packages that are due now (the scheduler does this every few seconds)."""
    click.echo(str(filing.file_due(batch_size=10_000)))
