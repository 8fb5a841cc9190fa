"""The canary sweep (RELIABILITY P4, P6, P7) on a real stack: gunicorn, the moderation
worker and the webhook worker, on a PostgreSQL database of its own and Redis db 8 (flushed
at start and end; dbs 10-14 belong to other suites).

A comment goes in with a unique canary email; it is held, approved by a moderator over the
moderation API, and its `comment.approved` webhook is delivered to a loopback receiver.
Then error paths carry the canary: a 422 submission, a 403 privacy request from a
moderator. An admin exports it (GDPR) and finally erases it. Every HTTP response and
header the test saw, every captured webhook request, every process log, every Redis key
and value (kombu's base64 task bodies decoded) and `pg_dump` of the database are searched
for the plaintext canary (as given, lower- and upper-case, and as hex): zero hits. After
the erase, `pg_dump` holds neither the canary's blind index nor its author name either.

The API rejects `.test` addresses (email-validator's special-use rule, see
test_submit_to_decision), so the canary is `canary+<uuid>@example.com`.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import make_url

from core import accounts
from core.privacy import PrivacyVault
from core.sites import ensure_site
from models import Role
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.integration.test_submit_to_decision import (
    SITE,
    HttpClient,
    accepted,
    dump_redis_db,
    flush_redis_db,
    wait_decided,
)
from tests.support.databases import create_database, drop_database
from tests.support.stack import LiveStack, stack_settings
from tests.support.webhooks import Receiver

HOLD_WORD = "embargo"
CANARY_REDIS_URL = os.environ.get("REPLYGUARD_TEST_CANARY_REDIS_URL", "redis://127.0.0.1:6379/8")


@dataclass
class Live:
    stack: LiveStack
    client: HttpClient
    database_url: str
    admin: dict[str, str]
    moderator: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("canary-stack")
    with ExitStack() as cleanup:
        database_url = create_database("replyguard_it_canary")
        cleanup.callback(drop_database, database_url)
        upgrade(database_url)
        engine = make_engine(database_url)
        with session_scope(make_sessionmaker(engine)) as session:
            site = ensure_site(session, SITE, name="The Canary Gazette")
            site.policy = {"moderation_words": [HOLD_WORD]}
            session.flush()
            admin = accounts.create_token(session, site, Role.ADMIN, label="canary-admin").secret
            mod = accounts.create_token(session, site, Role.MODERATOR, label="canary-mod").secret
        engine.dispose()
        flush_redis_db(CANARY_REDIS_URL)
        cleanup.callback(flush_redis_db, CANARY_REDIS_URL)
        settings = stack_settings(
            database_url, CANARY_REDIS_URL, workdir / "instance", webhooks_allow_loopback=True
        )
        stack = cleanup.enter_context(LiveStack(settings, workdir, webhooks=True))
        yield Live(
            stack,
            HttpClient(stack.base_url),
            database_url,
            {"Authorization": f"Bearer {admin}"},
            {"Authorization": f"Bearer {mod}"},
        )


def pg_dump(database_url: str) -> str:
    url = make_url(database_url)
    dump = subprocess.run(
        [
            *("pg_dump", "-h", "127.0.0.1", "-U", url.username or "postgres"),
            *("--no-password", url.database or ""),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dump.returncode == 0, dump.stderr
    return dump.stdout


def hits(texts: dict[str, str], needles: list[str]) -> list[tuple[str, str]]:
    """(where, needle) for every needle found, case-insensitively, in every text."""
    return [
        (where, needle)
        for where, text in texts.items()
        for needle in needles
        if needle.casefold() in text.casefold()
    ]


@pytest.mark.integration
def test_canary_email_never_leaves_as_plaintext_and_erase_removes_the_rest(live: Live) -> None:
    """P4 sweep, then P6: after the erase not even the blind index or the name remains."""
    canary = f"canary+{uuid.uuid4().hex}@example.com"
    name = f"Canary Reader {uuid.uuid4().hex[:8]}"
    thread = f"canary-{uuid.uuid4().hex[:8]}"
    needles = [canary, canary.lower(), canary.upper(), canary.encode().hex()]
    client = live.client
    with Receiver() as receiver:
        # A webhook receiver for approvals.
        hook = client.request(
            "POST",
            f"/api/v1/sites/{SITE}/webhooks",
            payload={"url": receiver.url(), "events": ["comment.approved"]},
            headers=live.admin,
        )
        assert hook.status == 201, hook.body
        # Submit (held by the word), approve over the moderation API, wait for delivery.
        submitted = client.request(
            "POST",
            f"/api/v1/sites/{SITE}/comments",
            payload={
                "thread": thread,
                "comment": f"Held for the {HOLD_WORD}, then approved.",
                "name": name,
                "email": canary,
            },
            headers={"X-Forwarded-For": "203.0.113.50"},
        )
        body = accepted(submitted)
        assert wait_decided(client, body["status_url"])["status"] == "held"
        approved = client.request(
            "POST",
            f"/api/v1/sites/{SITE}/moderation/comments/{body['id']}/decision",
            payload={"action": "approve"},
            headers=live.moderator,
        )
        assert approved.status == 200, approved.body
        (delivery,) = receiver.wait_for(1, timeout=30)
        assert name in delivery.body.decode()
    # Error paths that carry the canary: a bad submission (422) and a moderator asking
    # for a GDPR export (403).
    bad = client.request(
        "POST",
        f"/api/v1/sites/{SITE}/comments",
        payload={"thread": thread, "comment": "", "name": name, "email": canary, "x": canary},
        headers={"X-Forwarded-For": "203.0.113.51"},
    )
    assert bad.status == 422, bad.body
    denied = client.request(
        "POST",
        f"/api/v1/sites/{SITE}/privacy/export",
        payload={"email": canary},
        headers=live.moderator,
    )
    assert denied.status == 403
    # The admin's export finds it (and does not say the address back).
    export = client.request(
        "POST",
        f"/api/v1/sites/{SITE}/privacy/export",
        payload={"email": canary.upper()},
        headers=live.admin,
    )
    assert export.status == 200
    assert [c["id"] for c in export.json()["comments"]] == [body["id"]]

    index_hex = PrivacyVault(live.stack.settings).email_index(canary).hex()
    before = pg_dump(live.database_url)
    assert before.count(index_hex) == 1  # the blind index, in its own column only

    def sweep() -> dict[str, list[tuple[str, str]]]:
        texts = {
            "http": {
                f"response #{i}": r.decode("utf-8", errors="replace")
                for i, r in enumerate(client.received)
            },
            "webhook requests": {
                f"request #{i}": "".join(f"{k}: {v}\n" for k, v in r.headers.items())
                + r.body.decode("utf-8", errors="replace")
                for i, r in enumerate(receiver.requests)
            },
            "logs": live.stack.logs(),
            "redis": {k: "\n".join(v) for k, v in dump_redis_db(CANARY_REDIS_URL).items()},
            "pg_dump": {"pg_dump": pg_dump(live.database_url)},
        }
        return {kind: hits(found, needles) for kind, found in texts.items()}

    found = sweep()
    total = sum(len(v) for v in found.values())
    print(f"\ncanary sweep before erase: {total} hit(s) {found}")
    assert total == 0, found
    assert {"api.log", "api-access.log", "worker.log", "webhooks.log"} <= set(live.stack.logs())

    erased = client.request(
        "POST",
        f"/api/v1/sites/{SITE}/privacy/erase",
        payload={"email": canary},
        headers=live.admin,
    )
    assert erased.status == 200, erased.body
    assert (erased.json()["erased"], erased.json()["done"]) == (1, True)
    again = client.request(
        "POST",
        f"/api/v1/sites/{SITE}/privacy/erase",
        payload={"email": canary},
        headers=live.admin,
    )
    assert again.json()["erased"] == 0

    found = sweep()
    total = sum(len(v) for v in found.values())
    print(f"canary sweep after erase: {total} hit(s)")
    assert total == 0, found
    after = pg_dump(live.database_url)
    assert index_hex not in after
    assert name not in after  # the comment, its event and its stored webhook body
