"""IP retention (RELIABILITY P8): fake clock at day 31, run twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core import retention, tasknames
from core.config import Settings
from core.privacy import PrivacyVault
from core.queueconfig import celery_config
from models import Site
from tests.core.test_gdpr import make_comment, unique_email


def test_ips_older_than_the_retention_period_are_dropped_idempotently(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = [make_comment(session, site, vault, unique_email()) for _ in range(5)]
    fresh = make_comment(session, site, vault, unique_email())
    for n, comment in enumerate(old):
        comment.submitted_at = now - dt.timedelta(days=31, minutes=n)
    fresh.submitted_at = now - dt.timedelta(days=29)
    session.commit()

    counts = list(retention.prune_batches(session, 30, now=now, batch_size=2))
    session.commit()
    assert sum(counts) >= 5 and all(c <= 2 for c in counts)
    for comment in old:
        session.refresh(comment)
        assert comment.ip_index is None and comment.ip_truncated is None
        assert comment.author_name == "Jane Reader"  # nothing else changes
    session.refresh(fresh)
    assert fresh.ip_truncated == "203.0.113.0" and fresh.ip_index is not None
    assert retention.prune_ips(session, 30, now=now) == 0  # the second run: nothing left


def test_zero_days_keeps_everything(session: Session, site: Site, vault: PrivacyVault) -> None:
    comment = make_comment(session, site, vault, unique_email())
    comment.submitted_at = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    session.flush()
    assert retention.cutoff(0) is None
    assert retention.prune_ips(session, 0) == 0
    assert comment.ip_truncated == "203.0.113.0"


def test_setting_and_beat_schedule() -> None:
    assert Settings().ip_retention_days == 30
    env = {"REPLYGUARD_IP_RETENTION_DAYS": "7"}
    assert Settings.from_env(env).ip_retention_days == 7
    schedule = celery_config(Settings(), role="worker")["beat_schedule"]
    assert schedule["prune-ips"]["task"] == tasknames.PRUNE_IPS
    assert tasknames.TASK_QUEUES[tasknames.PRUNE_IPS] == tasknames.QUEUE_MAINTENANCE
