"""The overview page and its chart (an SVG document drawn by pygal on the server)."""

from __future__ import annotations

from flask import Response, g, render_template

from gaspay.staff import auth, overview
from gaspay.staff.views import bp

# The chart is its own document, shown through <img>: pygal's inline <style> needs this, and
# an image never runs scripts (pygal's are left out anyway).
CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@bp.get("/", endpoint="overview")
@auth.requires("view")
def home():
    return render_template("staff/overview.html", data=overview.overview(g.tenant.slug))


@bp.get("/resumen/grafica.svg", endpoint="chart")
@auth.requires("view")
def chart():
    data = overview.daily_collections(g.tenant.slug, overview.today_in_bogota())
    response = Response(overview.chart_svg(data, g.tenant.brand_color), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = CHART_CSP
    return response
