from flask import Blueprint

bp = Blueprint("checkout", __name__, url_prefix="/clientes")


@bp.get("/avisos/<int:bill_id>/pagar", endpoint="notice")
def notice(bill_id: int):
    return str(bill_id)
