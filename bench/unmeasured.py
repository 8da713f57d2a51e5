"""Accord without metrics, for ``bench.metrics``: ``uvicorn bench.unmeasured:app``."""

from service.app import create_app

app = create_app(measured=False)
