"""CR/LF and other control characters in what commenters send cannot forge a log line (P5):
every record the API writes while handling such input is exactly one line, with the
characters escaped."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core import comments
from core.logformat import OneLineFormatter
from tests.conftest import TEST_ORIGIN

FORGED = "2026-01-01 00:00:00,000 INFO api.moderation admin approved comment 1"
HOSTILE = [
    f"x\r\n{FORGED}",
    f"x\n{FORGED}",
    f"x\r{FORGED}",
    f"x\u2028{FORGED}",
    f"x\u0085{FORGED}",
    f"x\x1b[2J{FORGED}",
]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the root logger writes, through the service's own formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def assert_no_forged_line(text: str) -> None:
    for line in text.splitlines():
        assert not line.startswith("2026-01-01"), f"forged line: {line!r}"
    for ch in "\r\u2028\u0085\x1b":
        assert ch not in text


@pytest.mark.parametrize("value", HOSTILE)
def test_formatter_escapes_message_args_and_extras(value: str, log_lines: io.StringIO) -> None:
    log = logging.getLogger("test.injection")
    log.warning("comment from %s", value, extra={"author": value})
    text = log_lines.getvalue()
    assert text.count("\n") == 1  # one record, one line
    assert_no_forged_line(text)


def test_exceptions_are_one_line_too(log_lines: io.StringIO) -> None:
    try:
        raise ValueError(f"bad name x\n{FORGED}")
    except ValueError:
        logging.getLogger("test.injection").exception("failed")
    text = log_lines.getvalue()
    assert text.count("\n") == 1
    assert_no_forged_line(text)


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("value", HOSTILE[:3])
def test_requests_with_hostile_names_log_no_forged_lines(
    app: Flask, client: FlaskClient, value: str, log_lines: io.StringIO, monkeypatch: Any
) -> None:
    body = {"thread": "t", "comment": f"Body {value}", "name": value, "email": "a@example.org"}
    client.post(
        "/api/v1/sites/gazette/comments",
        json=body,
        headers={"Origin": TEST_ORIGIN},  # HTTP headers cannot carry CR/LF at all
    )

    # An error path logs the request too.
    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError(f"failure for {value}")

    monkeypatch.setattr(comments, "submit", boom)
    response = client.post(
        "/api/v1/sites/gazette/comments", json=body, headers={"Origin": TEST_ORIGIN}
    )
    assert response.status_code == 500
    text = log_lines.getvalue()
    assert "unhandled error" in text
    assert_no_forged_line(text)
