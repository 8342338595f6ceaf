"""Weight budget: every payer page, with its CSS and scripts, compressed, within 20 kB (issue 16;
bench/phone.py weighs them in Chromium, headers included); the whole Insesp flow up to the
gateway within 15 kB; nothing fetched from another host."""

from __future__ import annotations

import gzip
import re

import brotli
import pytest

from tests.conftest import csrf_from

PAGE_BUDGET = 20_000
FLOW_BUDGET = 15_000
ASSET_RE = re.compile(r'(?:src|href)="(/static/[^"]+)"')
HEADERS = {"Accept-Encoding": "br, gzip"}


def text_of(response) -> str:
    data = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if encoding == "br":
        data = brotli.decompress(data)
    elif encoding == "gzip":
        data = gzip.decompress(data)
    return data.decode()


def transferred(client, response) -> tuple[int, list[str]]:
    """Bytes on the wire for the page and the assets it references (as the browser gets them)."""
    html = text_of(response)
    total = len(response.get_data())  # compressed body as sent
    assets = ASSET_RE.findall(html)
    for url in assets:
        with client.get(url, headers=HEADERS) as asset:
            assert asset.status_code == 200, url
            total += len(asset.data)
    external = re.findall(r'(?:src|href|action)="(https?://[^"]+)"', html)
    return total, external


@pytest.mark.parametrize("path", ["/", "/insesp/", "/insesp/factura", "/interservicios/"])
def test_each_page_is_light(client, path):
    response = client.get(path, headers=HEADERS)
    size, external = transferred(client, response)
    assert size <= PAGE_BUDGET, f"{path}: {size} bytes"
    assert external == []


def test_insesp_flow_up_to_the_gateway(client, make_bill, mocked, insesp):
    from tests import fakes

    mocked.get(
        f"{fakes.API}/merchants/{insesp.wompi.public_key}",
        json=fakes.merchant(insesp.wompi.public_key),
    )
    mocked.get(f"{fakes.API}/pse/financial_institutions", json=fakes.BANKS)
    make_bill()
    seen_assets: set[str] = set()
    total = 0

    def count(response):
        nonlocal total
        html = text_of(response)
        total += len(response.get_data())
        for url in ASSET_RE.findall(html):
            if url not in seen_assets:  # the browser caches them (a year, hashed URLs)
                seen_assets.add(url)
                with client.get(url, headers=HEADERS) as asset:
                    total += len(asset.data)
        return html

    count(client.get("/insesp/", headers=HEADERS))
    page = count(client.get("/insesp/factura", headers=HEADERS))
    result = client.post(  # the whole page, as the payer's browser asks for it
        "/insesp/factura",
        headers=HEADERS,
        data={"numero": "0021053", "csrf_token": csrf_from(page)},
    )
    fragment = count(result)
    token = re.search(r'name="factura" value="([^"]+)"', fragment).group(1)
    step = client.get(f"/insesp/pse/pagar?factura={token}", headers=HEADERS)
    count(step)
    assert total <= FLOW_BUDGET, f"Insesp flow: {total} bytes"
    assert total > 5_000  # four documents, the CSS and app.js: the count is real
