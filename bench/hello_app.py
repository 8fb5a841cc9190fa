"""The ceiling for bench/ingest.py: a Flask hello-world that answers our submit URL with 202.

It does no parsing, no database and no queue work, so under `gunicorn -w 2` (the same
server and worker count as `replyguard run`) it shows what Flask + gunicorn alone cost
per POST on this machine. Started by bench/ingest.py as `gunicorn ... bench.hello_app:app`.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.post("/api/v1/sites/<site>/comments")
def accept(site: str) -> tuple[Response, int]:
    """Answer like the real submit endpoint would, without doing any of its work."""
    return jsonify({"status": "pending", "site": site}), 202


@app.get("/healthz")
def healthz() -> Response:
    """Readiness probe for the benchmark."""
    return jsonify({"status": "ok"})
