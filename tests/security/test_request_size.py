"""Request size (outside review, point 13): every body is limited before it is parsed.

`MAX_CONTENT_LENGTH` (`GASPAY_MAX_CONTENT_LENGTH`, 64 KiB by default: the portal's forms are a
few KB) answers 413 with a Spanish page, a declared length without reading the body and a
chunked body after at most the limit. A route that takes uploads raises its own limit with
`gaspay.web.security.upload_limit(nbytes)`, set before CSRF protection reads the form.
"""

from __future__ import annotations

import io

import pytest
from flask import request

from gaspay.extensions import limiter
from gaspay.web.security import upload_limit
from tests.conftest import csrf_from

KIB = 1024
# Under 500 KB: past it the test client spools the body it builds to a file it never closes.
UPLOAD_LIMIT = 300 * KIB
FORM_PAGES = [
    "/insesp/factura",
    "/interservicios/clientes/entrar",
    "/interservicios/clientes/recuperar",
]


class CountingStream(io.RawIOBase):
    """A request body of `size` bytes that counts how much of it the app reads."""

    def __init__(self, size: int):
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"a" * n
        self.left -= n
        self.read_bytes += n
        return n


def too_large(response) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == 413, (response.status_code, html[:400])
    assert "Datos demasiado grandes" in html and "supera el tamaño permitido" in html
    assert "Request Entity Too Large" not in html and "Traceback" not in html
    return html


@pytest.mark.parametrize("path", FORM_PAGES)
def test_a_form_past_the_limit_is_a_spanish_413(client, path):
    token = csrf_from(client.get(path).get_data(as_text=True))
    data = {"csrf_token": token, "numero": "21053", "email": "a@b.co", "relleno": "x" * 70 * KIB}
    html = too_large(client.post(path, data=data))
    assert 'lang="es' in html


def test_a_form_under_the_limit_is_still_read(client, make_bill):
    make_bill()
    token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))
    data = {"csrf_token": token, "numero": "21053", "relleno": "x" * 50 * KIB}
    response = client.post("/insesp/factura", data=data)
    assert response.status_code == 200 and "Factura del Gas" in response.get_data(as_text=True)


def test_an_htmx_post_past_the_limit_gets_the_fragment(client):
    token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))
    response = client.post(
        "/insesp/factura",
        data={"csrf_token": token, "relleno": "x" * 70 * KIB},
        headers={"HX-Request": "true"},
    )
    html = too_large(response)
    assert "<html" not in html and 'role="alert"' in html


def test_a_60_mb_body_is_refused_unread(client):
    """The reported attack: a 60 MB form. Its declared length is enough to refuse it."""
    size = 60 * 1024 * KIB
    stream = CountingStream(size)
    response = client.post(
        "/insesp/factura",
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input": stream, "CONTENT_LENGTH": str(size)},
    )
    too_large(response)
    assert stream.read_bytes == 0


def test_a_chunked_body_is_not_read_past_the_limit(client):
    """gunicorn hands a chunked request over with `wsgi.input_terminated` and no length: the
    form parser reads at most the limit (Werkzeug then parses what it read, so the answer is
    the CSRF refusal or 413; either is a Spanish page)."""
    stream = CountingStream(8 * 1024 * KIB)
    response = client.post(
        "/insesp/factura",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True},
    )
    assert response.status_code in (400, 413)
    assert 'lang="es' in response.get_data(as_text=True)
    assert stream.read_bytes <= 64 * KIB


def test_the_limit_is_a_setting(make_app, app):
    client = make_app(MAX_CONTENT_LENGTH=256 * KIB).test_client()
    token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))
    data = {"csrf_token": token, "numero": "21053", "relleno": "x" * 100 * KIB}
    assert client.post("/insesp/factura", data=data).status_code == 200


# --------------------------------------------------------------------------- upload_limit


@pytest.fixture
def upload_app(make_app, app):
    """An app with three upload routes: raised limit (decorator under and over the limiter's)
    and one left at the default."""
    upload_app = make_app()

    def size():
        upload = request.files["archivo"]
        return {"bytes": len(upload.read()), "nota": request.form.get("nota")}

    upload_app.add_url_rule("/subir", "subir", upload_limit(UPLOAD_LIMIT)(size), methods=["POST"])
    upload_app.add_url_rule(
        "/subir-limitado",
        "subir_limitado",
        upload_limit(UPLOAD_LIMIT)(limiter.limit("1000 per minute")(size)),
        methods=["POST"],
    )
    upload_app.add_url_rule(
        "/subir-limitado-2",
        "subir_limitado_2",
        limiter.limit("1000 per minute")(upload_limit(UPLOAD_LIMIT)(size)),
        methods=["POST"],
    )
    upload_app.add_url_rule("/sin-limite-propio", "sin_limite_propio", size, methods=["POST"])
    return upload_app


def upload(client, path: str, nbytes: int):
    token = csrf_from(client.get("/insesp/factura").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "nota": "cartera de abril",
        "archivo": (io.BytesIO(b"1" * nbytes), "facturas.csv", "text/csv"),
    }
    return client.post(path, data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("path", ["/subir", "/subir-limitado", "/subir-limitado-2"])
def test_an_upload_route_raises_its_own_limit(upload_app, path):
    client = upload_app.test_client()
    response = upload(client, path, 200 * KIB)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.json == {"bytes": 200 * KIB, "nota": "cartera de abril"}
    too_large(upload(client, path, 310 * KIB))  # its own limit still holds


def test_an_upload_route_still_checks_csrf(upload_app):
    client = upload_app.test_client()
    data = {"archivo": (io.BytesIO(b"1" * 10), "facturas.csv", "text/csv")}
    response = client.post("/subir", data=data, content_type="multipart/form-data")
    assert response.status_code == 400


def test_a_route_without_the_decorator_keeps_the_default(upload_app):
    too_large(upload(upload_app.test_client(), "/sin-limite-propio", 100 * KIB))


@pytest.mark.parametrize("nbytes", [0, -1, 1.5, True, "1MB"])
def test_upload_limit_needs_a_positive_number_of_bytes(nbytes):
    with pytest.raises(ValueError, match="positive number of bytes"):
        upload_limit(nbytes)
