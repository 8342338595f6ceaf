"""Wompi behind the neutral gateway interface (``gaspay.payments.gateway``).

The client's own errors become the neutral ones here, the client's transactions become
``GatewayAnswer`` values, and the Web Checkout form is built and signed here.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping

from gaspay.gateways import wompi
from gaspay.payments import gateway as G

PHONE_PREFIX = "+57"
MOBILE = re.compile(r"^3\d{9}$")


@contextlib.contextmanager
def neutral_errors():
    try:
        yield
    except wompi.GatewayRejected as exc:
        raise G.GatewayRejected(
            str(exc), status_code=exc.status_code, reason=exc.reason, messages=exc.messages
        ) from exc
    except wompi.GatewayUnavailable as exc:
        raise G.GatewayUnavailable(str(exc), status_code=exc.status_code) from exc
    except wompi.GatewayError as exc:
        raise G.GatewayUnavailable(str(exc)) from exc


def to_answer(txn: wompi.Transaction) -> G.GatewayAnswer:
    return G.GatewayAnswer(
        txn_id=txn.id,
        status=txn.status,
        reference=txn.reference,
        amount_cents=txn.amount_in_cents,
        currency=txn.currency,
        cus=txn.cus,
        bank_name=txn.bank_name,
        payment_method=txn.payment_method_type,
        message=txn.status_message,
        bank_url=txn.async_payment_url,
    )


def iso_utc(moment) -> str:
    """ISO 8601 UTC with milliseconds and Z, as Wompi writes it: `2026-11-22T20:28:50.000Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class WompiGateway:
    name = "wompi"

    def __init__(self, tenant, config: Mapping, client: wompi.WompiClient | None = None):
        self.tenant = tenant
        self.config = config
        self._client = client

    @property
    def client(self) -> wompi.WompiClient:
        if self._client is None:
            account = self.tenant.wompi
            if account is None:
                raise G.GatewayRejected("no Wompi account for this company")
            self._client = wompi.WompiClient(
                api_url=account.api_url,
                public_key=account.public_key,
                private_key=account.private_key,
                integrity_secret=account.integrity_secret,
                timeout=self.config["GATEWAY_TIMEOUT_SECONDS"],
                retries=self.config["GATEWAY_RETRIES"],
            )
        return self._client

    def banks(self) -> list[tuple[str, str]]:
        with neutral_errors():
            return [(b.code, b.name) for b in self.client.pse_banks()]

    def terms(self) -> G.Terms:
        with neutral_errors():
            a = self.client.merchant_acceptance()
        return G.Terms(
            a.acceptance_token, a.permalink, a.personal_data_token, a.personal_data_permalink
        )

    def create(self, order: G.PseOrder, terms: G.Terms) -> G.GatewayAnswer:
        with neutral_errors():
            txn = self.client.create_pse_transaction(
                reference=order.reference,
                amount_in_cents=order.amount_cents,
                currency=order.currency,
                customer_email=order.email,
                acceptance_token=terms.acceptance_token,
                accept_personal_auth=terms.personal_data_token,
                redirect_url=order.redirect_url,
                user_type=order.person_type,
                legal_id_type=order.document_type,
                legal_id=order.document_number,
                bank_code=order.bank_code,
                description=order.description,
                full_name=order.full_name,
                phone_number=order.phone,
                ip_address=order.payer_ip,
            )
        return to_answer(txn)

    def wait_for_bank_url(self, txn_id: str) -> G.GatewayAnswer:
        with neutral_errors():
            txn = self.client.wait_for_async_url(
                txn_id,
                timeout=self.config["ASYNC_URL_WAIT_SECONDS"],
                interval=self.config["ASYNC_URL_POLL_INTERVAL"],
            )
        return to_answer(txn)

    def status(self, txn_id: str) -> G.GatewayAnswer:
        with neutral_errors():
            return to_answer(self.client.get_transaction(txn_id))

    def find(self, reference: str) -> list[G.GatewayAnswer]:
        with neutral_errors():
            return [to_answer(t) for t in self.client.find_transactions(reference)]

    def read_notification(self, body: bytes, headers: Mapping[str, str]) -> G.Notice:
        """A Wompi event, verified; Wompi signs the transaction's fields, so it is the answer."""
        account = self.tenant.wompi
        try:
            event = json.loads(body)
        except (ValueError, RecursionError):
            raise G.InvalidNotification("not JSON") from None
        if account is None or not isinstance(event, dict):
            raise G.InvalidNotification("not an event")
        secret = account.events_secret
        if not wompi.verify_event(event, secret, headers.get("X-Event-Checksum")):
            raise G.InvalidNotification("bad signature")
        key = (wompi.event_checksum(event, secret) or "").lower()
        answer = None
        if event.get("event") == "transaction.updated":
            try:
                answer = to_answer(wompi.Transaction.from_api(event["data"]["transaction"]))
            except (wompi.GatewayError, KeyError, TypeError):
                answer = None
        return G.Notice(
            key=key,
            txn_id=answer.txn_id if answer else "",
            reference=answer.reference if answer else "",
            status=answer.status if answer else None,
            answer=answer,
            payload=event,
        )

    def checkout(self, order: G.CheckoutOrder) -> G.HostedCheckout:
        account = self.tenant.wompi
        if account is None or order.currency != "COP":
            raise ValueError(f"attempt {order.reference} cannot go to Wompi's Web Checkout")
        expiration = iso_utc(order.expires_at)
        signature = wompi.integrity_signature(
            order.reference,
            order.amount_cents,
            order.currency,
            account.integrity_secret,
            expiration,
        )
        fields = [
            ("public-key", account.public_key),
            ("currency", order.currency),
            ("amount-in-cents", str(order.amount_cents)),
            ("reference", order.reference),
            ("signature:integrity", signature),
            ("expiration-time", expiration),
            ("redirect-url", order.redirect_url),
        ]
        if order.vat_cents > 0:
            fields.append(("tax-in-cents:vat", str(order.vat_cents)))
        fields.append(("customer-data:email", order.email))
        if order.full_name:
            fields.append(("customer-data:full-name", order.full_name[:120]))
        phone = re.sub(r"\D", "", order.phone or "")
        if MOBILE.match(phone):
            fields += [
                ("customer-data:phone-number", phone),
                ("customer-data:phone-number-prefix", PHONE_PREFIX),
            ]
        return G.HostedCheckout(account.checkout_url, "get", tuple(fields), order.expires_at)
