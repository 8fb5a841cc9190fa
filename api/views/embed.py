"""`GET /embed.js`: the comment widget a site embeds with one script tag (README "Embedding").

The file (api/static/embed.js, plain JavaScript with no build step) is read and gzipped
once per process; answers carry a strong ETag (its hash, so any change shows at the next
revalidation), `Cache-Control: public, max-age=300` so a busy article page does not ask
again on every view, and `Cross-Origin-Resource-Policy: cross-origin` because it is made
to be loaded by other sites.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, request

bp = Blueprint("embed", __name__)

SCRIPT_PATH = Path(__file__).resolve().parent.parent / "static" / "embed.js"
MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class Asset:
    raw: bytes
    gz: bytes
    etag: str


@cache
def script_asset() -> Asset:
    """The script as shipped, its gzipped form and its ETag (files do not change at run time)."""
    raw = SCRIPT_PATH.read_bytes()
    return Asset(raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:24])


@bp.get("/embed.js", provide_automatic_options=False)
def script() -> Response:
    """The widget script, gzipped for clients that accept it; 304 on revalidation."""
    asset = script_asset()
    if request.if_none_match.contains(asset.etag):
        response = Response(status=304)
    elif request.accept_encodings.quality("gzip") > 0:
        response = Response(asset.gz, content_type="text/javascript; charset=utf-8")
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(asset.raw, content_type="text/javascript; charset=utf-8")
    response.set_etag(asset.etag)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.vary.add("Accept-Encoding")
    return response
