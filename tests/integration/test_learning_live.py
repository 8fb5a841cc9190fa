"""Learning from moderators with real processes: gunicorn, one Celery worker, PostgreSQL, Redis.

Readers POST comments over HTTP; the worker decides them; moderators judge them through the
moderation API (their decisions become labels); `replyguard.learn_sites` is sent BY NAME
through Redis to the worker, which fine-tunes the site's spam model into `site_models`; a new
comment in the learnt scam wording is then decided by the worker with the site's model,
and its audit trail shows the spam classifier's score and reason. A fresh database and db 10
of the shared Redis (flushed at start and end, no other db touched).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import accounts, tasknames
from core.sites import ensure_site
from models import Role, SiteModel, TrainingLabel
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.integration.test_submit_to_decision import (
    SITE,
    HttpClient,
    accepted,
    decisions_of,
    flush_redis_db,
    producer_for,
    submit,
    wait_decided,
)
from tests.support.databases import create_database, drop_database
from tests.support.polling import wait_for
from tests.support.stack import LiveStack, stack_settings

LEARNING_REDIS_URL = os.environ.get(
    "REPLYGUARD_TEST_LEARNING_REDIS_URL", "redis://127.0.0.1:6379/10"
)
# The site holds comments that mention the council, so moderators approve them (ham labels).
HOLD_WORD = "council"
# A scam wording the shipped spam model lets through (each scores under 0.7).
SCAM = [
    f"Recover your lost crypto wallet funds fast, contact our certified recovery agent {end}"
    for end in ("today", "now", "on telegram", "at once", "24/7", "immediately")
] + [
    f"Lost money to a fake broker? Our certified recovery agent gets wallet funds back {end}"
    for end in ("quickly", "in 48 hours", "guaranteed", "for victims", "safely")
]
HAM = [
    f"The council vote on the {topic} budget was closer than the article suggests."
    for topic in ("school", "road", "library", "parks", "transit", "water")
] + [
    "I disagree with the council, but the reporting here is fair and well sourced.",
    "Thanks for covering what the council decided about the flood relief.",
    "Where can I read the full text of the council proposal?",
    "My neighbourhood was left out of the council's new bus routes again.",
    "Good piece, though the council headline overstates what was agreed.",
    "The council should publish these figures before the next vote.",
]
NEW_SCAM = "Certified recovery agent will recover your lost crypto wallet funds, contact him"
LEARN_TIMEOUT = 30.0


@dataclass
class Live:
    stack: LiveStack
    client: HttpClient
    engine: Engine
    moderator: dict[str, str]


def prepare(url: str) -> str:
    """Migrate, create the site and a moderator token; return the token."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            site = ensure_site(session, SITE, name="The Learning Gazette")
            # Near-duplicate detection off: the scam variations must reach the classifier.
            site.policy = {
                "moderation_words": [HOLD_WORD],
                "duplicates_window_days": 0,
                # This site holds from 0.7 (the default is 0.9): the shipped model scores
                # every SCAM variation below it, the learnt one the new wording above it.
                "spam_hold_at": 0.7,
            }
            session.flush()
            return accounts.create_token(session, site, Role.MODERATOR, label="it-mod").secret
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("learning-stack")
    with ExitStack() as cleanup:
        database_url = create_database("replyguard_it_learn")
        cleanup.callback(drop_database, database_url)
        token = prepare(database_url)
        flush_redis_db(LEARNING_REDIS_URL)
        cleanup.callback(flush_redis_db, LEARNING_REDIS_URL)
        engine = make_engine(database_url)
        cleanup.callback(engine.dispose)
        settings = stack_settings(database_url, LEARNING_REDIS_URL, workdir / "instance")
        stack = cleanup.enter_context(LiveStack(settings, workdir, concurrency=2))
        yield Live(stack, HttpClient(stack.base_url), engine, {"Authorization": f"Bearer {token}"})


def submit_and_wait(live: Live, thread: str, texts: list[str]) -> list[dict[str, Any]]:
    bodies = [accepted(submit(live.client, thread, text)) for text in texts]
    return [wait_decided(live.client, body["status_url"]) | {"id": body["id"]} for body in bodies]


def moderate(live: Live, comment_id: int, action: str) -> None:
    result = live.client.request(
        "POST",
        f"/api/v1/sites/{SITE}/moderation/comments/{comment_id}/decision",
        payload={"action": action},
        headers=live.moderator,
    )
    assert result.status == 200, (result.status, result.body)


def spam_check(engine: Engine, comment_id: int) -> Any:
    [decision] = decisions_of(engine, comment_id)
    [check] = [c for c in decision.checks if c.check_name == "spam_classifier"]
    return decision, check


@pytest.mark.integration
def test_moderators_decisions_teach_the_worker_a_new_scam(live: Live) -> None:
    thread = f"it-learn-{uuid.uuid4().hex[:8]}"
    # 1. The default model lets the scam through; the council comments are held.
    scams = submit_and_wait(live, thread, SCAM)
    assert {c["status"] for c in scams} == {"approved"}
    hams = submit_and_wait(live, thread, HAM)
    assert {c["status"] for c in hams} == {"held"}
    _, before = spam_check(live.engine, scams[0]["id"])
    assert before.action is None and before.score == 0.0  # no opinion below spam_hold_at

    # 2. Moderators mark the scam spam and approve the held comments, over HTTP.
    for comment in scams:
        moderate(live, comment["id"], "spam")
    for comment in hams:
        moderate(live, comment["id"], "approve")
    with Session(live.engine) as session:
        got = session.scalars(select(TrainingLabel.label)).all()
    assert sorted(got) == ["ham"] * len(HAM) + ["spam"] * len(SCAM)

    # 3. The beat task, sent by name through Redis to the worker process.
    producer = producer_for(live.stack.settings)
    try:
        producer.send_task(tasknames.LEARN_SITES, queue=tasknames.QUEUE_MAINTENANCE)
    finally:
        producer.close()

    def learnt() -> SiteModel | None:
        with Session(live.engine) as session:
            return session.scalar(select(SiteModel).where(SiteModel.kind == "spam"))

    model = wait_for(learnt, timeout=LEARN_TIMEOUT, interval=0.2, what="a site spam model")
    assert model.labels_used == len(SCAM) + len(HAM)
    assert model.metrics is not None and model.metrics["positives"] == len(SCAM)
    live.stack.wait_for_log(
        live.stack.worker, rf"{tasknames.LEARN_SITES}\[[0-9a-f-]+\] succeeded", timeout=10
    )

    # 4. The worker now holds the new wording with the site's model, and says why.
    [probe] = submit_and_wait(live, thread, [NEW_SCAM])
    assert probe["status"] == "held", probe
    decision, check = spam_check(live.engine, probe["id"])
    assert decision.decided_by == "check:spam_classifier"
    assert check.action == "hold"
    assert check.score >= 0.5
    assert check.reason.startswith(f"spam classifier scores {check.score:.2f}")
    assert "words that weigh most" in check.reason
