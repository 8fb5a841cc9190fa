"""`GET /embed.js`: the widget script as shipped, small, cacheable, loadable by other sites."""

from __future__ import annotations

import gzip
import re

from flask.testing import FlaskClient

from api.views.embed import SCRIPT_PATH

GZIP_BUDGET_BYTES = 15 * 1024


def test_the_script_is_served_gzipped_and_revalidates(client: FlaskClient) -> None:
    response = client.get("/embed.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data) == SCRIPT_PATH.read_bytes()
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "Accept-Encoding" in response.vary
    etag = response.headers["ETag"]
    again = client.get("/embed.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    plain = client.get("/embed.js")
    assert "Content-Encoding" not in plain.headers and plain.data == SCRIPT_PATH.read_bytes()


def test_the_script_stays_small() -> None:
    """The issue's budget: at most 15 KB gzipped."""
    size = len(gzip.compress(SCRIPT_PATH.read_bytes(), 9))
    print(f"embed.js: {SCRIPT_PATH.stat().st_size} bytes, {size} bytes gzipped")
    assert size <= GZIP_BUDGET_BYTES


def test_the_script_talks_to_its_own_origin_only_and_never_inserts_markup() -> None:
    source = SCRIPT_PATH.read_text()
    hosts = re.findall(r"https?://([a-z][\w.-]*)", source)
    assert set(hosts) == {"comments.example", "news.example"}  # the usage example only
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
