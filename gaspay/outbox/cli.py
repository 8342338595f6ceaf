"""`flask --app gaspay worker` and `flask --app gaspay outbox list|show|retry|endpoints|…`."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from gaspay.db import write_unit
from gaspay.outbox import queue
from gaspay.outbox.models import STATUSES
from gaspay.timeutil import BOGOTA, as_utc

outbox = AppGroup("outbox", help="Messages waiting to go out or sent (e-mail, webhooks, jobs).")


def _when(value) -> str:
    return as_utc(value).astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@click.command("worker")
@click.option("--once", is_flag=True, help="One pass (the reconciliation job, then what is due).")
@click.option("--poll", type=float, default=None, help="Seconds between polls when idle.")
@click.option("--no-reconcile", is_flag=True, help="Do not run the reconciliation job.")
@click.option("--kind", "kinds", multiple=True, help="Only these kinds (repeatable).")
def worker(once: bool, poll: float | None, no_reconcile: bool, kinds: tuple[str, ...]) -> None:
    """Deliver the outbox and run the reconciliation job (SIGTERM: finish the message, stop)."""
    from gaspay.outbox.worker import Worker

    app = current_app._get_current_object()
    runner = Worker(
        app,
        kinds=kinds or None,
        poll_seconds=poll,
        reconcile_seconds=0 if no_reconcile else None,
    )
    if once:
        report = runner.run_once(reconcile=not no_reconcile)
        if not no_reconcile and report.reconciled is None:
            runner.reconcile_if_due(report, force=True)
        click.echo(str(report))
        return
    runner.run()


@outbox.command("list")
@click.option("--tenant", default=None, help="Only this company's messages (slug).")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--kind", default=None, help="email, webhook, …")
@click.option("--limit", default=50, show_default=True)
@click.option("--deliveries", is_flag=True, help="Each delivery under its message.")
def list_command(tenant, status, kind, limit, deliveries) -> None:
    """The newest messages first, with their state and last error."""
    if tenant is not None and tenant not in current_app.extensions["gaspay.tenants"]:
        raise click.BadParameter(f"tenant '{tenant}' not configured", param_hint="--tenant")
    rows = queue.list_messages(tenant=tenant, status=status, kind=kind, limit=limit)
    if not rows:
        click.echo("no messages")
        return
    click.echo("id\ttenant\tkind\ttopic\tstatus\tattempts\tnext attempt\tto\tlast error")
    for m in rows:
        next_at = _when(m.next_attempt_at) if m.status == "pending" else "-"
        click.echo(
            f"{m.id}\t{m.tenant or '-'}\t{m.kind}\t{m.topic}\t{m.status}\t{m.attempts}\t"
            f"{next_at}\t{m.destination}\t{m.last_error or ''}"
        )
        if deliveries:
            for d in m.deliveries:
                _echo_delivery(d)


def _echo_delivery(d) -> None:
    outcome = "ok" if d.ok else "failed"
    code = d.status_code if d.status_code is not None else "-"
    click.echo(
        f"    #{d.number} {_when(d.started_at)} {outcome} code={code} {d.duration_ms} ms "
        f"next={_when(d.next_attempt_at)} {d.error or ''}"
    )


@outbox.command("show")
@click.argument("message_id", type=int)
def show_command(message_id: int) -> None:
    """One message and every delivery of it."""
    message = queue.get_message(message_id)
    if message is None:
        click.echo(f"no message {message_id}", err=True)
        sys.exit(1)
    click.echo(
        f"message {message.id} [{message.uid}] {message.kind} {message.topic} "
        f"tenant={message.tenant or '-'} to={message.destination}\n"
        f"status={message.status} attempts={message.attempts} failures={message.failures} "
        f"created={_when(message.created_at)} delivered={_when(message.delivered_at)} "
        f"next={_when(message.next_attempt_at)}"
    )
    for d in message.deliveries:
        _echo_delivery(d)


@outbox.command("retry")
@click.argument("message_id", type=int)
def retry_command(message_id: int) -> None:
    """Send a message again now (same identity: a repeat is harmless to the receiver)."""
    message = queue.retry(message_id)
    if message is None:
        click.echo(f"no message {message_id}", err=True)
        sys.exit(1)
    click.echo(f"message {message_id} queued again; the worker sends it within seconds")


@outbox.command("endpoints")
def endpoints_command() -> None:
    """Every configured webhook endpoint, and whether it is disabled (410)."""
    from gaspay.outbox.webhooks import disabled_endpoints

    off = {(d.tenant, d.url): d for d in disabled_endpoints()}
    any_shown = False
    for tenant in current_app.extensions["gaspay.tenants"].values():
        for e in tenant.webhooks:
            any_shown = True
            state = off.get((tenant.slug, e.url))
            events = ", ".join(sorted(e.events)) if e.events else "all events"
            note = f"DISABLED since {_when(state.disabled_at)}: {state.reason}" if state else "on"
            click.echo(f"{tenant.slug}\t{e.name}\t{e.url}\t{events}\t{note}")
    if not any_shown:
        click.echo("no webhook endpoints configured")


@outbox.command("enable-endpoint")
@click.argument("tenant")
@click.argument("url")
@click.option("--resend", is_flag=True, help="Queue again the messages disabled with it.")
def enable_endpoint_command(tenant: str, url: str, resend: bool) -> None:
    """Let deliveries to a disabled (410) endpoint start again."""
    from sqlalchemy import update

    from gaspay.extensions import db
    from gaspay.outbox.models import DISABLED, PENDING, OutboxMessage
    from gaspay.outbox.webhooks import KIND, enable_endpoint
    from gaspay.timeutil import utcnow

    with write_unit():
        was = enable_endpoint(tenant, url)
        again = 0
        if resend:
            again = db.session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.tenant == tenant,
                    OutboxMessage.kind == KIND,
                    OutboxMessage.destination == url,
                    OutboxMessage.status == DISABLED,
                )
                .values(status=PENDING, failures=0, next_attempt_at=utcnow(), lease_until=None)
                .execution_options(synchronize_session=False)
            ).rowcount
    click.echo(
        ("enabled" if was else "was not disabled")
        + (f"; {again} messages queued again" if resend else "")
    )
