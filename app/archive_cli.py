"""flask archive …: re-verify sealed packages, check a transfer batch, file the queue by hand."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.archive.transfer import verify_batch
from app.errors import ServiceError
from app.extensions import db
from app.models import ArchivePackage
from app.services.archive import filing
from app.services.archive import transfer as transfer_service

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


@archive_cli.command("export")
@click.option("--year", required=True, help="年度 of the packages, four digits.")
@click.option("--retention", default="", help="Y, D30 or D10; every retention class when left out.")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def export_command(year: str, retention: str, output: Path) -> None:
    """Write the transfer batch (移交) of a year's sealed packages, with its transfer list, to OUTPUT."""
    # Written beside OUTPUT under a temporary name and renamed when complete: a failed export
    # never leaves a batch that looks whole.
    partial = output.with_name(f".{output.name}.{secrets.token_hex(6)}.part")
    try:
        selection = transfer_service.parse_selection(year, retention)
        with partial.open("wb") as handle:
            written = transfer_service.export_batch(selection, handle, exported_by="command line")
        os.replace(partial, output)
    except ServiceError as exc:
        partial.unlink(missing_ok=True)
        details = "".join(f"\n  {field}: {message}" for field, message in exc.fields.items())
        click.echo(f"error: {exc.message}{details}", err=True)
        sys.exit(1)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        click.echo(f"error: cannot write {output}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{written.count} packages exported to {output}")


@archive_cli.command("verify-batch", with_appcontext=False)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def verify_batch_command(path: Path) -> None:
    """Check a transfer batch (ZIP or unpacked directory) against its list; needs no database.
    Exit status 1 when anything fails."""
    report = verify_batch(path)
    results = [_print_report(verdict.archival_code, verdict.report) for verdict in report.packages]
    if report.problems:
        click.echo("batch: FAIL")
        for problem in report.problems:
            click.echo(f"  {problem}")
    click.echo(f"{results.count(True)} of {len(results)} packages verified; "
               f"{len(report.problems)} problems with the batch itself")
    sys.exit(0 if report.ok else 1)
