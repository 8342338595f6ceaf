"""`flask --app gaspay …` commands: bills import, demo load, payments reconcile, customers."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

bills = AppGroup("bills", help="Load a utility's bills.")
demo = AppGroup("demo", help="Demo data for development.")
payments = AppGroup("payments", help="Payment attempts.")


def _tenant_or_fail(slug: str):
    tenant = current_app.extensions["gaspay.tenants"].get(slug)
    if tenant is None:
        known = ", ".join(sorted(current_app.extensions["gaspay.tenants"]))
        raise click.BadParameter(f"tenant '{slug}' not configured (known: {known})")
    return tenant


@bills.command("import")
@click.argument("tenant")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Import the good lines, report the bad.")
def import_command(tenant: str, path: str, skip_invalid: bool) -> None:
    """Import bills from a CSV file (see README: column layout); recorded as a load by "cli"."""
    from gaspay.billing.importer import ImportError_, ImportRunFailed, import_bills

    _tenant_or_fail(tenant)
    try:
        report = import_bills(tenant, path, skip_invalid=skip_invalid, created_by="cli")
    except ImportError_ as exc:
        click.echo(exc.report.summary(), err=True)
        if exc.report.fatal:
            click.echo("Nada fue importado: corrija el archivo.", err=True)
        else:
            click.echo("Nada fue importado: corrija el archivo o use --skip-invalid.", err=True)
        sys.exit(1)
    except ImportRunFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(report.summary())


@demo.command("load")
def demo_load() -> None:
    """Load the demo bills and customer (idempotent: safe to run on every start)."""
    from gaspay.demo import load_demo

    if current_app.config.get("PRODUCTION"):
        raise click.ClickException(
            "demo data is for development only: refused with GASPAY_ENV=production"
        )
    tenants = set(current_app.extensions["gaspay.tenants"])
    for report in load_demo(current_app.instance_path, tenants):
        click.echo(report.summary())
    if "interservicios" in tenants:
        from gaspay.accounts.services import ensure_demo_customer

        click.echo(ensure_demo_customer())
    from gaspay.staff.demo import ensure_demo_staff

    for line in ensure_demo_staff(tenants):
        click.echo(line)


@payments.command("reconcile")
@click.option("--limit", default=200, show_default=True, help="Attempts per run.")
def reconcile_command(limit: int) -> None:
    """Ask the gateways about attempts that are due (run from cron every minute)."""
    from gaspay.payments.reconcile import reconcile_due

    report = reconcile_due(current_app.extensions["gaspay.tenants"], limit=limit)
    click.echo(
        f"due={report.due} checked={report.checked} transitions={report.transitions} "
        f"expired={report.expired} unavailable={report.unavailable} skipped={report.skipped}"
    )


def register(app: Flask) -> None:
    app.cli.add_command(bills)
    app.cli.add_command(demo)
    app.cli.add_command(payments)
    from gaspay.accounts.cli import customers

    app.cli.add_command(customers)
    from gaspay.staff.cli import staff

    app.cli.add_command(staff)
    from gaspay.outbox.cli import outbox, worker

    app.cli.add_command(outbox)
    app.cli.add_command(worker)
