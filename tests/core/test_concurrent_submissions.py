"""Concurrent submissions cannot slip past the duplicate and flood rules (a double-clicked
"Post Comment", a bot firing in parallel): real connections, real commits, on both databases."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from core import comments
from core.comments import NewComment, SubmissionMeta
from core.config import Settings
from core.errors import DomainError
from core.privacy import PrivacyVault
from core.sites import ensure_site
from models import Comment, OutboxEntry, Thread
from models.db import make_sessionmaker

THREADS = 8


@pytest.fixture
def thread_key(engine: Engine) -> Iterator[str]:
    """A committed site and thread, deleted with their comments afterwards."""
    key = f"race-{uuid.uuid4().hex[:8]}"
    factory = make_sessionmaker(engine)
    with factory() as session:
        site = ensure_site(session, "race", name="Race")
        # The thread exists already: creating it would serialize the racers by itself.
        comments.get_or_create_thread(session, site, key, url=None, title=None)
        session.commit()
        site_id = site.id
    yield key
    with factory() as session:
        ids = select(Thread.id).where(Thread.site_id == site_id, Thread.key == key)
        comment_ids = select(Comment.id).where(Comment.thread_id.in_(ids))
        session.execute(delete(OutboxEntry).where(OutboxEntry.ref_id.in_(comment_ids)))
        session.execute(delete(Comment).where(Comment.thread_id.in_(ids)))
        session.execute(delete(Thread).where(Thread.id.in_(ids)))
        session.commit()


def race(
    engine: Engine, settings: Settings, vault: PrivacyVault, make: list[NewComment], ips: list[str]
) -> Counter[str]:
    """Submit each comment from its own thread and connection at the same moment."""
    factory = make_sessionmaker(engine)
    with factory() as session:
        from core.sites import get_site

        site = get_site(session, "race")
    start = threading.Barrier(len(make))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def one(data: NewComment, ip: str) -> None:
        with Session(engine, expire_on_commit=False) as session:
            start.wait(timeout=10)
            try:
                comments.submit(
                    session, site, data, meta=SubmissionMeta(ip=ip), vault=vault, settings=settings
                )
                session.commit()
                result = "accepted"
            except DomainError as exc:
                session.rollback()
                result = exc.code
        with lock:
            outcomes[result] += 1

    workers = [threading.Thread(target=one, args=(d, ip)) for d, ip in zip(make, ips, strict=True)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return outcomes


def test_parallel_comments_from_one_email_obey_the_flood_rule(
    engine: Engine, settings: Settings, vault: PrivacyVault, thread_key: str
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    make = [
        NewComment(thread=thread_key, comment=f"text {n}", name=f"N{n}", email=email)
        for n in range(THREADS)
    ]
    ips = [f"198.51.100.{n}" for n in range(THREADS)]
    outcomes = race(engine, settings, vault, make, ips)
    assert outcomes == Counter({"accepted": 1, "too_many_comments": THREADS - 1})


def test_parallel_double_posts_are_one_comment(
    engine: Engine, settings: Settings, vault: PrivacyVault, thread_key: str
) -> None:
    """Same author name and text from different emails and IPs: WordPress's duplicate rule."""
    settings = settings.with_overrides(flood_seconds=0)
    make = [
        NewComment(
            thread=thread_key,
            comment="Same words",
            name="Same Name",
            email=f"{n}-{uuid.uuid4().hex[:6]}@example.org",
        )
        for n in range(THREADS)
    ]
    ips = [f"203.0.113.{n}" for n in range(THREADS)]
    outcomes = race(engine, settings, vault, make, ips)
    assert outcomes == Counter({"accepted": 1, "duplicate_comment": THREADS - 1})
