"""Generic Spanish error pages; details go to the log, never to the payer."""

from __future__ import annotations

from flask import Flask, current_app, g, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from gaspay.web.templating import is_htmx

MESSAGES = {
    400: ("Solicitud inválida", "Revise los datos e intente de nuevo."),
    403: ("Acceso no permitido", "No tiene permiso para ver esta página."),
    404: ("Página no encontrada", "La dirección no existe o ya no está disponible."),
    405: ("Acción no permitida", "Vuelva a la página anterior e intente de nuevo."),
    409: ("Aún no disponible", "Lo que pidió aún no está disponible. Intente de nuevo más tarde."),
    413: (
        "Datos demasiado grandes",
        "Lo que envió supera el tamaño permitido. Vuelva a la página anterior e intente de "
        "nuevo con menos datos.",
    ),
    429: (
        "Demasiados intentos",
        "Ha hecho demasiadas consultas seguidas. Espere unos minutos e intente de nuevo.",
    ),
    500: (
        "Ocurrió un error",
        "No pudimos completar su solicitud. Ningún pago se ha registrado por este error; "
        "intente de nuevo en unos minutos.",
    ),
}


def render_error(code: int, message: str | None = None):
    title, text = MESSAGES.get(code, MESSAGES[500])
    return (
        render_template(
            "_error.html" if is_htmx() else "error.html",
            code=code,
            title=title,
            text=message or text,
            tenant=g.get("tenant"),
        ),
        code,
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_exc):
        return render_error(
            400,
            "El formulario venció o no es válido. Vuelva a cargar la página e intente de nuevo.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code in MESSAGES:
            # A message given with abort(code, "…") is ours (Spanish); the defaults are not.
            own = exc.description if exc.description != type(exc).description else None
            return render_error(exc.code, own)
        return exc

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        current_app.logger.exception("unhandled error")
        if current_app.debug or (
            current_app.testing and not current_app.config.get("ERROR_PAGES_IN_TESTS")
        ):
            raise exc
        return render_error(500)
