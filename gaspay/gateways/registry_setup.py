"""The composition root's half of the gateway registry: each provider's adapter, registered.

``gaspay.payments`` knows gateways only through ``gaspay.payments.gateway``; this module is the
one place that ties a provider's name to its package; ``create_app`` calls ``register_gateways``.
"""

from __future__ import annotations

from gaspay.gateways.placetopay.adapter import PlacetoPayGateway
from gaspay.gateways.wompi.adapter import WompiGateway
from gaspay.payments import gateway


def register_gateways(app) -> None:
    gateway.register(app, "wompi", WompiGateway)
    gateway.register(app, "placetopay", PlacetoPayGateway)
