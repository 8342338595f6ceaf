"""The company's staff area, mounted for every tenant under ``/<slug>/empresa/``.

Staff users and their session (``auth``, ``services``), payments (``payments``), the review
queue (``reviews``), exports (``exports``, ``asobancaria``), the overview (``overview``), the
audit log (``audit``); the views are in ``gaspay.staff.views``, one module per concern.
"""
