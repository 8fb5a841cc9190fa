"""The Akismet-compatible API against a real Akismet client: gunicorn serving the app on a
fresh PostgreSQL database, and `node tests/akismet_client/check.mjs` using the npm package
`@cedx/akismet` with its `baseUrl` pointed at that server.

The client verifies its key (and a wrong one), checks a ham, a spam (a disallowed word of
the site: certain, so "discard") and a honeypot comment, submits a spam and a ham, then
times 200 more comment checks. Only the API process runs: comment-check and the submit
calls never touch the queue. Needs `npm ci` in tests/akismet_client (`make test` does it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli.devstack import api_argv
from core import accounts
from core.sites import ensure_site
from models import Comment, Role, TrainingLabel
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.support.databases import create_database, drop_database
from tests.support.polling import wait_for
from tests.support.stack import (
    LOOPBACK,
    PROJECT_ROOT,
    ManagedProcess,
    free_port,
    settings_env,
    stack_settings,
)

CLIENT_DIR = PROJECT_ROOT / "tests" / "akismet_client"
SITE = "akismet-gazette"
BLOG = "https://akismet-gazette.example/"
SPAM_WORD = "cheap-pills"
# Nothing is ever queued by these routes; a database of Redis that no other test uses.
BROKER_URL = os.environ.get("REPLYGUARD_TEST_AKISMET_REDIS_URL", "redis://127.0.0.1:6379/11")
ROUNDS = 200


@dataclass
class Live:
    base_url: str
    key: str
    token_id: int
    site_id: int
    engine: Engine
    api: ManagedProcess


def prepare(url: str) -> tuple[str, int, int]:
    """Migrate, create the site (SPAM_WORD disallowed) and a moderator token."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            site = ensure_site(session, SITE, name="The Akismet Gazette")
            site.policy = {"disallowed_words": [SPAM_WORD]}
            session.flush()
            issued = accounts.create_token(session, site, Role.MODERATOR, label="akismet-it")
            return issued.secret, issued.row_id, site.id
    finally:
        engine.dispose()


def healthy(base_url: str, api: ManagedProcess) -> bool:
    assert api.running(), f"the API exited early:\n{api.log_text()[-4000:]}"
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if shutil.which("node") is None:
        pytest.fail("node is not installed (needed for the Akismet client)")
    if not (CLIENT_DIR / "node_modules" / "@cedx" / "akismet").is_dir():
        pytest.fail(f"run `npm ci` in {CLIENT_DIR} first (`make test` does it)")
    workdir = tmp_path_factory.mktemp("akismet-api")
    with ExitStack() as cleanup:
        database_url = create_database("replyguard_it_akismet")
        cleanup.callback(drop_database, database_url)
        key, token_id, site_id = prepare(database_url)
        engine = make_engine(database_url)
        cleanup.callback(engine.dispose)
        settings = stack_settings(database_url, BROKER_URL, workdir / "instance")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYGUARD_")}
        env.update(settings_env(settings), PYTHONUNBUFFERED="1")
        # The same gunicorn command `make run` uses, with two workers.
        api = ManagedProcess(
            "api",
            api_argv(sys.executable, bind=f"{LOOPBACK}:{port}", workers=2),
            workdir / "api.log",
            env,
        )
        api.start()
        cleanup.callback(api.stop)
        base_url = f"http://{LOOPBACK}:{port}"
        wait_for(lambda: healthy(base_url, api), timeout=30, interval=0.2, what="/healthz")
        yield Live(base_url, key, token_id, site_id, engine, api)


def run_client(live: Live, rounds: int) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AKISMET_BASE_URL": live.base_url,
        "AKISMET_KEY": live.key,
        "AKISMET_BLOG": BLOG,
        "SPAM_WORD": SPAM_WORD,
        "ROUNDS": str(rounds),
    }
    done = subprocess.run(
        ["node", "check.mjs"],
        cwd=CLIENT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.integration
def test_a_real_akismet_client_works_against_replyguard(live: Live) -> None:
    result = run_client(live, ROUNDS)
    assert result["verifyKey"] == {"ok": True, "value": True}
    assert result["verifyWrongKey"] == {"ok": True, "value": False}
    assert result["checkHam"] == {"ok": True, "value": "ham"}
    assert result["checkSpam"] == {"ok": True, "value": "pervasiveSpam"}
    assert result["checkHoneypot"] == {"ok": True, "value": "pervasiveSpam"}
    # The client raises our X-akismet-debug-help text for a wrong key.
    assert result["checkWrongKey"]["ok"] is False
    assert "not a valid Replyguard API token" in result["checkWrongKey"]["error"]
    assert result["submitSpam"] == {"ok": True, "value": None}
    assert result["submitHam"] == {"ok": True, "value": None}

    with Session(live.engine) as session:
        rows = list(
            session.scalars(
                select(TrainingLabel)
                .where(TrainingLabel.site_id == live.site_id)
                .order_by(TrainingLabel.id)
            )
        )
        stored_comments = session.scalar(select(func.count()).select_from(Comment))
    assert [(r.label, r.comment_id, r.source) for r in rows] == [
        ("spam", None, f"akismet:token:{live.token_id}"),
        ("ham", None, f"akismet:token:{live.token_id}"),
    ]
    assert SPAM_WORD in rows[0].body
    assert stored_comments == 0  # comment-check stores nothing

    timing = result["timing"]
    print(  # shown with `pytest -s`
        f"\ncomment-check through @cedx/akismet, {timing['rounds']} calls: "
        f"p50 {timing['p50_ms']:.1f} ms, p95 {timing['p95_ms']:.1f} ms, "
        f"max {timing['max_ms']:.1f} ms"
    )
    assert timing["p50_ms"] < 250, timing

    logs = live.api.log_text()
    assert live.key not in logs
    assert SPAM_WORD not in logs
