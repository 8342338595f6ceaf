"""PlacetoPay WebCheckout behind the neutral gateway interface (``gaspay.payments.gateway``).

A PSE payment is a session: ``create`` records nothing at PlacetoPay but the session and answers
PENDING with the session's ``processUrl`` as the address the payer is sent to (PlacetoPay's own
page shows the bank list). ``status`` queries the session and settles it against our reference,
amount and currency; the receipt's CUS, bank and method come from the chosen transaction. There
is no lookup by reference, so ``find`` answers nothing and an unknown create is expired by the
reconcile job once the session's expiration has passed. A notification is only a hint: it names
the session (``requestId``), which the caller then queries before changing anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Mapping

import gaspay.gateways.placetopay as p2p
import gaspay.payments.gateway as G

# The PSE step sends no bank: PlacetoPay's page shows the list. One choice keeps the form whole.
BANK_ON_GATEWAY = ("P2P", "Elegir el banco en la página segura de PlacetoPay")
SESSION_MINUTES = 30  # below RECONCILE_EXPIRE_UNKNOWN_MINUTES: an unknown create then expires
UNKNOWN = "UNKNOWN"  # not a transition-table input: the core flags it and asks again later


@contextlib.contextmanager
def neutral_errors():
    try:
        yield
    except p2p.GatewayRejected as exc:
        raise G.GatewayRejected(
            str(exc), status_code=exc.status_code, reason=exc.reason, messages={}
        ) from exc
    except p2p.GatewayUnavailable as exc:
        raise G.GatewayUnavailable(str(exc), status_code=exc.status_code) from exc
    except p2p.GatewayError as exc:
        raise G.GatewayUnavailable(str(exc)) from exc


def method_of(txn: p2p.Transaction | None) -> str | None:
    """The receipt's method in the portal's words: ``PSE``, else the card brand or method."""
    if txn is None:
        return None
    if txn.is_pse:
        return "PSE"
    return (txn.payment_method_name or txn.payment_method or "")[:30] or None


def settle(info: p2p.SessionInfo, reference: str, amount_cents: int, currency: str):
    """The neutral answer for a queried session, as the attempt's record sees it."""
    settled = info.settle(reference=reference, amount_cents=amount_cents, currency=currency)
    txn = settled.transaction
    status = settled.gateway_input or f"{UNKNOWN}:{info.status.status}"[:20]
    return G.GatewayAnswer(
        txn_id=str(info.request_id),
        status=status,
        reference=(txn.reference if txn and txn.reference else info.reference) or "",
        amount_cents=txn.amount_cents if txn else (info.amount_cents or 0),
        currency=(txn.currency if txn else info.currency) or "",
        cus=(txn.cus or "")[:64] or None if txn else None,
        bank_name=(txn.issuer_name or "")[:80] or None if txn else None,
        payment_method=method_of(txn),
        message=(settled.message or "")[:255] or None,
    )


class PlacetoPayGateway:
    name = "placetopay"

    def __init__(self, tenant, config: Mapping, client: p2p.PlacetoPayClient | None = None):
        self.tenant = tenant
        self.config = config
        self._client = client

    @property
    def account(self):
        account = self.tenant.placetopay
        if account is None:
            raise G.GatewayRejected("no PlacetoPay account for this company")
        return account

    @property
    def client(self) -> p2p.PlacetoPayClient:
        if self._client is None:
            account = self.account
            self._client = p2p.PlacetoPayClient(
                base_url=account.base_url,
                login=account.login,
                secret_key=account.secret_key,
                timeout=self.config["GATEWAY_TIMEOUT_SECONDS"],
                retries=self.config["GATEWAY_RETRIES"],
            )
        return self._client

    def banks(self) -> list[tuple[str, str]]:
        return [BANK_ON_GATEWAY]

    def terms(self) -> G.Terms:
        """PlacetoPay's page shows its own terms; the portal links the company's (its
        ``terms_url``), or nothing: never PlacetoPay's API host."""
        url = self.tenant.terms_url or ""
        return G.Terms("", url, "", url)

    def create(self, order: G.PseOrder, terms: G.Terms) -> G.GatewayAnswer:
        payer = p2p.Person(
            document=order.document_number,
            document_type=order.document_type,
            name=order.full_name,
            email=order.email,
            mobile=order.phone or None,
        )
        if payer.problems():
            payer = p2p.Person(name=order.full_name, email=order.email)
        expiration = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=SESSION_MINUTES)
        with neutral_errors():
            try:
                session = self.client.create_session(
                    reference=order.reference,
                    description=order.description,
                    amount_cents=order.amount_cents,
                    currency=order.currency,
                    return_url=order.redirect_url,
                    ip_address=order.payer_ip or "127.0.0.1",
                    user_agent=order.user_agent,
                    buyer=payer,
                    payment_method="pse",
                    expiration=expiration,
                )
            except ValueError as exc:
                raise G.GatewayRejected(str(exc), status_code=None) from None
        return G.GatewayAnswer(
            txn_id=str(session.request_id),
            status=p2p.statuses.PENDING,
            reference=order.reference,
            amount_cents=order.amount_cents,
            currency=order.currency,
            payment_method="PSE",
            bank_url=session.process_url,
        )

    def wait_for_bank_url(self, txn_id: str) -> G.GatewayAnswer:
        """The session's page is known at creation: ask once and keep its address."""
        raise G.GatewayUnavailable("PlacetoPay: the address comes with the create")

    def status(self, txn_id: str) -> G.GatewayAnswer:
        with neutral_errors():
            try:
                info = self.client.query_session(txn_id)
            except ValueError as exc:
                raise G.GatewayRejected(str(exc), status_code=None) from None
        return settle(info, info.reference, info.amount_cents, info.currency)

    def find(self, reference: str) -> list[G.GatewayAnswer]:
        return []  # PlacetoPay has no lookup by reference

    def read_notification(self, body: bytes, headers: Mapping[str, str]) -> G.Notice:
        account = self.tenant.placetopay
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise G.InvalidNotification("not JSON") from None
        if account is None or not isinstance(data, dict):
            raise G.InvalidNotification("not a notification")
        try:
            notice = p2p.read_notification(data, account.secret_key)
        except p2p.InvalidNotification as exc:
            raise G.InvalidNotification(str(exc)) from None
        return G.Notice(
            key=notice.event_key,
            txn_id=str(notice.request_id),
            reference=notice.reference,
            status=notice.gateway_input,
            answer=None,  # a hint: the session is queried before anything changes
            payload=data,
        )

    def checkout(self, order: G.CheckoutOrder) -> G.HostedCheckout:
        raise ValueError("PlacetoPay's hosted checkout starts with a session (not yet offered)")
