"""Two moderators deciding the same comment at the same moment, on real connections: exactly
one decision wins, the other gets DecisionConflict naming the winner's result."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from core.access import Principal
from core.config import Settings
from core.errors import DecisionConflict
from core.privacy import PrivacyVault
from core.review import ReviewAction, decide
from core.sites import ensure_site
from models import (
    AuditEntry,
    CheckResult,
    Comment,
    CommentStatus,
    Decision,
    Event,
    OutboxEntry,
    Site,
    Thread,
)
from models.db import make_sessionmaker
from tests.support.moderation import held


@pytest.fixture
def race_site(engine: Engine) -> Iterator[int]:
    """A committed site of its own, deleted with everything under it afterwards."""
    factory = make_sessionmaker(engine)
    with factory() as session:
        site = ensure_site(session, f"race-{uuid.uuid4().hex[:8]}", name="Race")
        session.commit()
        site_id = site.id
    yield site_id
    with factory() as session:
        comment_ids = select(Comment.id).where(Comment.site_id == site_id)
        decision_ids = select(Decision.id).where(Decision.comment_id.in_(comment_ids))
        session.execute(delete(CheckResult).where(CheckResult.decision_id.in_(decision_ids)))
        session.execute(delete(Decision).where(Decision.comment_id.in_(comment_ids)))
        session.execute(delete(Event).where(Event.site_id == site_id))
        session.execute(delete(AuditEntry).where(AuditEntry.site_id == site_id))
        session.execute(delete(OutboxEntry).where(OutboxEntry.ref_id.in_(comment_ids)))
        session.execute(delete(Comment).where(Comment.site_id == site_id))
        session.execute(delete(Thread).where(Thread.site_id == site_id))
        session.execute(delete(Site).where(Site.id == site_id))
        session.commit()


def test_concurrent_decisions_one_wins_one_conflicts(
    engine: Engine, race_site: int, vault: PrivacyVault, settings: Settings
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        site = session.get(Site, race_site)
        assert site is not None
        comment_id = held(session, site, vault, settings).id
        assert session.get(Comment, comment_id).status is CommentStatus.HELD  # type: ignore[union-attr]
    wanted = {"ana": ReviewAction.APPROVE, "ben": ReviewAction.REJECT}
    start = threading.Barrier(len(wanted))
    results: dict[str, str] = {}

    def one(name: str) -> None:
        principal = Principal(actor=f"moderator:{name}", name=name)
        with Session(engine, expire_on_commit=False) as session:
            start.wait(timeout=10)
            try:
                decide(
                    session,
                    race_site,
                    comment_id,
                    wanted[name],
                    principal,
                    expected=CommentStatus.HELD,
                )
                session.commit()
                results[name] = "decided"
            except DecisionConflict as exc:
                session.rollback()
                results[name] = f"conflict:{exc.current}"

    workers = [threading.Thread(target=one, args=(name,)) for name in wanted]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    status_of = {"ana": CommentStatus.APPROVED, "ben": CommentStatus.REJECTED}
    assert sorted(results) == ["ana", "ben"]
    [winner] = [name for name, result in results.items() if result == "decided"]
    [loser] = [name for name in results if name != winner]
    assert results[loser] == f"conflict:{status_of[winner].value}"
    with Session(engine) as session:
        final = session.get(Comment, comment_id)
        assert final is not None and final.status is status_of[winner]
        human = session.scalars(
            select(Decision.decided_by).where(
                Decision.comment_id == comment_id, Decision.decided_by.like("moderator:%")
            )
        ).all()
        assert human == [f"moderator:{winner}"]
