"""`flask --app gaspay customers …`: operators create customers and link client numbers."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from gaspay.billing.numbers import InvalidNumber

customers = AppGroup("customers", help="Customer accounts.")


def _check_tenant(slug: str) -> None:
    tenant = current_app.extensions["gaspay.tenants"].get(slug)
    if tenant is None or not tenant.offers("customer_accounts"):
        raise click.BadParameter(f"tenant '{slug}' does not offer customer accounts")


@customers.command("create")
@click.argument("tenant")
@click.argument("email")
@click.option("--name", default="", help="Full name.")
@click.option("--client", "clients", multiple=True, help="Client number to link (repeatable).")
@click.password_option(help="Initial password (asked for when not given).")
def create(tenant: str, email: str, name: str, clients: tuple[str, ...], password: str) -> None:
    from gaspay.accounts.services import AccountError, create_customer, link_client

    _check_tenant(tenant)
    try:
        customer = create_customer(tenant, email, password, name)
        for number in clients:
            link_client(customer, number)
    except (AccountError, InvalidNumber) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created {customer.email} (id {customer.id}) linked to {customer.client_numbers}")


@customers.command("link")
@click.argument("tenant")
@click.argument("email")
@click.argument("client_number")
def link(tenant: str, email: str, client_number: str) -> None:
    from gaspay.accounts.services import find_customer, link_client

    _check_tenant(tenant)
    customer = find_customer(tenant, email)
    if customer is None:
        click.echo(f"error: no customer {email} in {tenant}", err=True)
        sys.exit(1)
    try:
        added = link_client(customer, client_number)
    except InvalidNumber:
        click.echo(f"error: invalid client number {client_number!r}", err=True)
        sys.exit(1)
    click.echo(("linked " if added else "already linked ") + client_number)
