"""`flask --app gaspay staff …`: the operator creates a company's first users, disables them,
and exports the collection for automation (same files as the staff area's "Exportar")."""

from __future__ import annotations

import datetime as dt
import sys

import click
from flask import current_app
from flask.cli import AppGroup

staff = AppGroup("staff", help="The companies' staff users and exports.")
OPERATOR = "operador-cli"


def _tenant(slug: str):
    tenant = current_app.extensions["gaspay.tenants"].get(slug)
    if tenant is None:
        known = ", ".join(sorted(current_app.extensions["gaspay.tenants"]))
        raise click.BadParameter(f"tenant '{slug}' not configured (known: {known})")
    return tenant


def _date(_ctx, _param, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' must be a date AAAA-MM-DD") from None


def _link(slug: str, token: str) -> str:
    from gaspay.staff.auth import enrolment_link

    base = current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:{}".format(
        current_app.config.get("PORT", 5000)
    )
    with current_app.test_request_context(base_url=base):
        return enrolment_link(slug, token)


@staff.command("create")
@click.argument("tenant")
@click.argument("email")
@click.option(
    "--role", type=click.Choice(["admin", "operador", "consulta"]), required=True, help="Role."
)
@click.option("--name", default="", help="Full name.")
def create(tenant: str, email: str, role: str, name: str) -> None:
    """Create a staff user and print their one-time enrolment link."""
    from gaspay.staff.services import StaffError, create_user

    _tenant(tenant)
    try:
        enrolment = create_user(tenant, email, role, full_name=name, created_by=OPERATOR)
    except StaffError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    user = enrolment.user
    click.echo(f"created {user.email} ({role}) for {tenant}")
    click.echo("one-time enrolment link (the user chooses a password, then sets up TOTP):")
    click.echo(_link(tenant, enrolment.token))


@staff.command("disable")
@click.argument("tenant")
@click.argument("email")
def disable(tenant: str, email: str) -> None:
    """Disable a staff user at once (their open session ends on its next request)."""
    from gaspay.staff.services import StaffError, disable_user, find_user

    _tenant(tenant)
    user = find_user(tenant, email)
    if user is None:
        click.echo(f"error: no staff user {email} in {tenant}", err=True)
        sys.exit(1)
    try:
        disable_user(tenant, user, OPERATOR)
    except StaffError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"disabled {user.email} in {tenant}")


@staff.command("export")
@click.argument("tenant")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "asobancaria-2001"]),
    required=True,
    help="File format.",
)
@click.option("--from", "start", required=True, callback=_date, help="First collection date.")
@click.option("--to", "end", required=True, callback=_date, help="Last collection date.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="File to write.")
def export(tenant: str, fmt: str, start: dt.date, end: dt.date, output: str | None) -> None:
    """Export approved collections by Colombian collection date (approval in America/Bogota).

    Asobancaria 2001: one file per day; a range of several days gives a ZIP of daily files.
    Without --output the file goes to standard output.
    """
    from gaspay.staff import audit
    from gaspay.staff.exports import ExportError, build

    settings = _tenant(tenant)
    try:
        result = build(settings, fmt, start, end)
    except ExportError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if output:
        written = 0
        with open(output, "wb") as fh:
            for chunk in result.chunks:
                fh.write(chunk)
                written += len(chunk)
        click.echo(f"wrote {output} ({written} bytes)", err=True)
    else:
        for chunk in result.chunks:
            click.echo(chunk, nl=False)  # bytes go to the binary stdout as they are
    audit.log(tenant, OPERATOR, "export", output or result.filename, f"{fmt} {start} a {end}")


@staff.command("run-imports")
@click.option("--limit", default=10, show_default=True, help="Loads per run.")
def run_imports(limit: int) -> None:
    """Import the bill loads confirmed in the staff area and waiting in the queue."""
    from gaspay.billing.importer import ImportRunFailed
    from gaspay.staff.imports import run_queued

    try:
        done = run_queued(limit)
    except ImportRunFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for record in done:
        click.echo(
            f"{record.tenant} carga {record.id}: {record.status} ({record.total_rows} filas)"
        )
