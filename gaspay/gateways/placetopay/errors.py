"""PlacetoPay client errors: unknown outcome (ask again later) versus a definite refusal.

The same three shapes as the Wompi client (``gaspay.gateways.wompi.errors``), defined here so the
two packages stay independent; a shared base can replace both later.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every PlacetoPay client error."""


class GatewayUnavailable(GatewayError):
    """No definite answer: timeout, network, 5xx, an answer we cannot read, a failed query."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class GatewayRejected(GatewayError):
    """A definite refusal: a 4xx answer, or a create whose request status is not ``OK``.

    ``reason`` is ``status.reason`` as text (PlacetoPay sends the number 401 for authentication
    failures, codes such as ``request_not_valid`` otherwise); ``auth_code`` is the number at the
    end of an authentication failure's message (100-107, 200, 10001); ``message`` is the
    gateway's ``status.message``, kept out of ``str(exc)`` because it may echo data back.
    """

    def __init__(
        self,
        text: str,
        *,
        status_code: int | None,
        reason: str | None = None,
        message: str | None = None,
        auth_code: int | None = None,
    ):
        super().__init__(text)
        self.status_code = status_code
        self.reason = reason
        self.message = message
        self.auth_code = auth_code


class NotFound(GatewayRejected):
    """404: PlacetoPay does not know this session (``request_not_valid``)."""


class InvalidNotification(GatewayError, ValueError):
    """A notification body that is malformed or whose signature does not verify."""
