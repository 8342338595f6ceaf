from flask import Blueprint

bp = Blueprint("accounts", __name__, url_prefix="/clientes")


@bp.get("/", endpoint="area")
def area():
    return "Área de clientes"
