"""Browser pages: the emulated PSE and bank pages, the transaction list, the legal texts."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from gaspay.sandbox import flow, store
from gaspay.sandbox.merchants import APPROVE_BANK, DECLINE_BANK

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")

AUTOMATIC = {APPROVE_BANK: "APPROVED", DECLINE_BANK: "DECLINED"}
BANK_DECISIONS = ("APPROVED", "DECLINED", "PENDING")
INDEX_DECISIONS = ("APPROVED", "DECLINED")


def pse_transaction(txn_id: str) -> store.Transaction:
    txn = store.get(txn_id)
    if txn is None or txn.method_type != "PSE":
        abort(404)
    return txn


def page(template: str, txn: store.Transaction, status: int = 200, **extra):
    return render_template(template, txn=txn, **flow.view_context(txn), **extra), status


@bp.errorhandler(404)
def unknown(_error):
    return render_template("sandbox/not_found.html"), 404


@bp.get("/")
def index():
    txns = store.transactions()
    rows = [(t, flow.view_context(t)) for t in txns]
    return render_template("sandbox/index.html", rows=rows)


@bp.post("/transacciones/<txn_id>")
def decide_later(txn_id: str):
    decision = request.form.get("decision")
    if decision not in INDEX_DECISIONS or store.get(txn_id) is None:
        abort(404)
    flow.decide(txn_id, decision)
    return redirect(url_for("sandbox.index"), code=303)


@bp.get("/legal/terminos")
def legal_terms():
    return render_template("sandbox/legal_terms.html")


@bp.get("/legal/datos")
def legal_data():
    return render_template("sandbox/legal_data.html")


@bp.route("/pse/<txn_id>", methods=["GET", "POST"])
def pse(txn_id: str):
    txn = pse_transaction(txn_id)
    if txn.final:
        return page("sandbox/result.html", txn)
    if request.method == "GET":
        return page("sandbox/pse.html", txn, form={})
    form = request.form
    error = None
    if form.get("user_type") not in ("0", "1"):
        error = "Seleccione el tipo de persona."
    elif form.get("pse_user") == "registered" and "@" not in form.get("email", ""):
        error = "Escriba el e-mail registrado en PSE."
    if error:
        return page("sandbox/pse.html", txn, 400, form=form, error=error)
    code = txn.payment_method.get("financial_institution_code", "")
    if code in AUTOMATIC:
        return flow.back_to_merchant(flow.decide(txn.id, AUTOMATIC[code]))
    return redirect(url_for("sandbox.bank", txn_id=txn.id), code=303)


@bp.route("/banco/<txn_id>", methods=["GET", "POST"])
def bank(txn_id: str):
    txn = pse_transaction(txn_id)
    if txn.final:
        return page("sandbox/result.html", txn)
    if request.method == "GET":
        return page("sandbox/bank.html", txn)
    decision = request.form.get("decision")
    if decision not in BANK_DECISIONS:
        return page("sandbox/bank.html", txn, 400, error="Elija una opción.")
    return flow.back_to_merchant(flow.decide(txn.id, decision))
