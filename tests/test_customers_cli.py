"""`flask --app gaspay customers create|link`: the operator's commands for customer accounts."""

from __future__ import annotations

import pytest
from werkzeug.security import check_password_hash

from gaspay.accounts.services import find_customer

TENANT, EMAIL, PASSWORD = "interservicios", "ana@correo.co", "una-clave-larga-2026"


def create(runner, *extra, email=EMAIL, password=PASSWORD):
    return runner.invoke(
        args=["customers", "create", TENANT, email, "--password", password, *extra]
    )


def test_create_links_the_client_numbers_and_hashes_the_password(runner, app):
    result = create(runner, "--name", "Ana Ruiz", "--client", "0100245", "--client", "100246")
    assert result.exit_code == 0, result.output
    assert f"created {EMAIL}" in result.output
    customer = find_customer(TENANT, EMAIL)
    assert customer.full_name == "Ana Ruiz"
    assert customer.client_numbers == ["100245", "100246"]  # stored without leading zeros
    assert customer.password_hash != PASSWORD
    assert check_password_hash(customer.password_hash, PASSWORD)


def test_create_refuses_a_duplicate_and_a_short_password(runner, app):
    assert create(runner).exit_code == 0
    again = create(runner)
    assert again.exit_code == 1 and "Ya existe un cliente" in again.output
    short = create(runner, email="otra@correo.co", password="corta")
    assert short.exit_code == 1 and "al menos" in short.output
    assert find_customer(TENANT, "otra@correo.co") is None


@pytest.mark.parametrize("command", ["create", "link"])
def test_a_tenant_without_customer_accounts_is_refused(runner, app, command):
    args = ["customers", command, "insesp", EMAIL]
    args += ["--password", PASSWORD] if command == "create" else ["0021053"]
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and "does not offer customer accounts" in result.output
    assert find_customer("insesp", EMAIL) is None


def test_link_adds_once_and_refuses_bad_input(runner, app):
    assert create(runner).exit_code == 0
    link = ["customers", "link", TENANT, EMAIL]
    first = runner.invoke(args=[*link, "0100247"])
    assert first.exit_code == 0 and "linked 0100247" in first.output
    second = runner.invoke(args=[*link, "100247"])
    assert second.exit_code == 0 and "already linked" in second.output
    bad = runner.invoke(args=[*link, "12-ab!"])
    assert bad.exit_code == 1 and "invalid client number" in bad.output
    nobody = runner.invoke(args=["customers", "link", TENANT, "nadie@correo.co", "100248"])
    assert nobody.exit_code == 1 and "no customer" in nobody.output
    assert find_customer(TENANT, EMAIL).client_numbers == ["100247"]
