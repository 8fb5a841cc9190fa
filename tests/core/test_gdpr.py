"""GDPR export and erase by email (RELIABILITY P3, P6, P7, M8)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import gdpr
from core.access import Principal
from core.comments import body_digest, get_or_create_thread
from core.events import emit_for_status
from core.privacy import EncryptedEmail, PrivacyVault
from models import (
    AuditEntry,
    AuthorMark,
    CheckResult,
    Comment,
    CommentStatus,
    Decision,
    Event,
    Role,
    Site,
    TrainingLabel,
    WebhookDelivery,
    WebhookEndpoint,
)

ADMIN = Principal(actor="moderator:1", name="Ada Admin", roles={}, moderator_id=1)


def make_comment(
    session: Session,
    site: Any,
    vault: PrivacyVault,
    email: str,
    *,
    status: CommentStatus = CommentStatus.APPROVED,
    body: str = "A perfectly ordinary comment.",
    name: str = "Jane Reader",
    thread: str = "gdpr-thread",
    parent_id: int | None = None,
) -> Comment:
    """A comment row as submit() would store it, without the flood and duplicate rules."""
    sealed = vault.encrypt_email(email)
    row = Comment(
        thread=get_or_create_thread(
            session, site, thread, url="https://news.example/a", title="An article"
        ),
        site_id=site.id,
        parent_id=parent_id,
        author_name=name,
        website="https://jane.example",
        email_ciphertext=sealed.ciphertext,
        email_key_id=sealed.key_id,
        email_index=sealed.index,
        ip_index=vault.ip_index("203.0.113.9"),
        ip_truncated="203.0.113.0",
        user_agent="Mozilla/5.0 (Jane's laptop)",
        referrer="https://news.example/a",
        body=body,
        body_hash=body_digest(body),
        status=status,
        form_signals={"age_seconds": 12},
    )
    session.add(row)
    session.flush()
    return row


def decrypt(vault: PrivacyVault, comment: Comment) -> str:
    return vault.decrypt_email(
        EncryptedEmail(comment.email_ciphertext, comment.email_key_id, comment.email_index)
    )


def unique_email(tag: str = "jane") -> str:
    return f"{tag}+{uuid.uuid4().hex[:12]}@example.org"


def test_export_includes_every_status_of_that_email_only(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    """P7: pending, held and spam comments are exported; another author's are not; case
    variants of the address are the same person (P3)."""
    email = unique_email()
    mine = [
        make_comment(session, site, vault, email, status=CommentStatus.APPROVED),
        make_comment(session, site, vault, email.upper(), status=CommentStatus.PENDING),
        make_comment(session, site, vault, email, status=CommentStatus.HELD),
        make_comment(session, site, vault, email.title(), status=CommentStatus.SPAM),
    ]
    make_comment(session, site, vault, unique_email("other"), name="Someone Else")
    items = gdpr.export_by_email(session, site.id, email, vault=vault, batch_size=3)
    assert [i["id"] for i in items] == [c.id for c in mine]
    assert [i["status"] for i in items] == ["approved", "pending", "held", "spam"]
    first = items[0]
    assert first["author_name"] == "Jane Reader"
    assert first["ip_prefix"] == "203.0.113.0"
    assert first["link"] == f"https://news.example/a#comment-{mine[0].id}"
    assert email.casefold() not in json.dumps(items).casefold()  # never echoed
    page = gdpr.export_page(session, site.id, email, vault=vault, limit=2)
    assert len(page.items) == 2 and not page.done
    rest = gdpr.export_page(session, site.id, email, vault=vault, after_id=page.next_cursor)
    assert len(rest.items) == 2 and rest.done


def test_erase_anonymises_in_batches_and_is_idempotent(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    """P6: five comments in batches of two; a second run erases nothing; the unrelated
    comment is untouched; the thread keeps its structure (replies keep their parent)."""
    email = unique_email()
    parent = make_comment(session, site, vault, email, body=f"Write to me at {email} please")
    statuses = [CommentStatus.PENDING, CommentStatus.SPAM, CommentStatus.HELD]
    mine = [parent] + [
        make_comment(session, site, vault, email.upper(), status=s, body=f"Comment {n}")
        for n, s in enumerate(statuses)
    ]
    reply = make_comment(session, site, vault, email, parent_id=parent.id, body="My own reply")
    mine.append(reply)
    other = make_comment(session, site, vault, unique_email("other"), name="Someone Else")
    session.commit()

    batches = list(gdpr.erase_batches(session, site.id, email, ADMIN, vault=vault, batch_size=2))
    session.commit()
    assert [len(b.comment_ids) for b in batches] == [2, 2, 1]
    assert [b.done for b in batches] == [False, False, True]
    assert batches[-1].audit_id is not None

    blank = gdpr.erased_index(vault)
    for comment in mine:
        session.refresh(comment)
        assert comment.author_name == "Anonymous"
        assert comment.website is None and comment.user_agent is None
        assert comment.referrer is None and comment.form_signals is None
        assert comment.ip_index is None and comment.ip_truncated is None
        assert comment.email_index == blank
        assert decrypt(vault, comment) == ""
    assert [c.status for c in mine[:4]] == [CommentStatus.APPROVED, *statuses]
    assert parent.body == "Write to me at [email removed] please"
    assert parent.body_hash == body_digest(parent.body)
    session.refresh(reply)
    assert reply.parent_id == parent.id and reply.body == "My own reply"
    session.refresh(other)
    assert other.author_name == "Someone Else" and other.ip_truncated == "203.0.113.0"

    again = gdpr.erase_by_email(session, site.id, email, ADMIN, vault=vault, batch_size=2)
    session.commit()
    assert (again.erased, again.batches) == (0, 1)
    assert gdpr.export_by_email(session, site.id, email, vault=vault) == []

    audits = session.scalars(
        select(AuditEntry).where(
            AuditEntry.site_id == site.id, AuditEntry.action == "privacy.erase"
        )
    ).all()
    assert [a.detail["comments"] for a in audits] == [5, 0]
    assert all("due_by" in a.detail for a in audits)
    assert email.casefold() not in json.dumps([a.detail for a in audits]).casefold()


def test_erase_scrubs_labels_marks_reasons_events_and_webhook_bodies(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    email = unique_email()
    comment = make_comment(session, site, vault, email, body=f"Mail {email} now")
    decision = Decision(
        comment_id=comment.id,
        decided_by="moderator:1",
        from_status="held",
        to_status="approved",
        reason=f"ok, checked with {email.upper()}",
    )
    decision.checks.append(
        CheckResult(
            position=0,
            check_name="personal_data",
            action="hold",
            reason=f"the comment contains what looks like an email: {email[:20]}…",
            spans=[[5, 5 + len(email)]],
        )
    )
    session.add(decision)
    session.add(
        TrainingLabel(site_id=site.id, comment_id=comment.id, label="ham", body="x", source="t")
    )
    session.add(
        AuthorMark(site_id=site.id, kind="trust", email_index=comment.email_index, created_by="m:1")
    )
    session.add(
        AuditEntry(
            site_id=site.id,
            actor="moderator:1",
            actor_name="Ada",
            action="author.mark",
            comment_id=comment.id,
            detail={"by": "email", "author": comment.email_index.hex()},
        )
    )
    sealed, key_id = vault.encrypt_secret("whsec_test", purpose="webhook_endpoints.secret|ep_g")
    session.add(
        WebhookEndpoint(
            public_id="ep_g",
            site_id=site.id,
            url="https://hooks.example/in",
            events=["comment.approved"],
            secret_ciphertext=sealed,
            secret_key_id=key_id,
        )
    )
    session.flush()
    event = emit_for_status(session, comment)
    assert event is not None
    delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id))
    assert delivery is not None and "Jane Reader" in delivery.body and email in delivery.body
    index_hex = comment.email_index.hex()
    session.commit()

    summary = gdpr.erase_by_email(session, site.id, email, ADMIN, vault=vault)
    session.commit()
    assert summary.erased == 1
    assert (
        session.scalar(
            select(func.count())
            .select_from(TrainingLabel)
            .where(TrainingLabel.comment_id == comment.id)
        )
        == 0
    )
    assert (
        session.scalar(
            select(func.count()).select_from(AuthorMark).where(AuthorMark.site_id == site.id)
        )
        == 0
    )
    session.refresh(decision)
    assert decision.reason == "ok, checked with [email removed]"
    check = decision.checks[0]
    session.refresh(check)
    assert "@" not in check.reason and check.spans is None
    session.refresh(event)
    session.refresh(delivery)
    for text in (json.dumps(event.payload), delivery.body):
        assert "Jane Reader" not in text and email not in text and "Anonymous" in text
    assert json.loads(delivery.body)["data"]["comment"]["status"] == "approved"
    marks = session.scalars(select(AuditEntry).where(AuditEntry.comment_id == comment.id)).all()
    assert all(index_hex not in json.dumps(m.detail) for m in marks)
    events = session.scalar(select(func.count()).select_from(Event).where(Event.site_id == site.id))
    assert events == 1


def test_erase_leaves_other_sites_alone(session: Session, site: Site, vault: PrivacyVault) -> None:
    from core.sites import ensure_site

    other_site = ensure_site(session, f"other-{uuid.uuid4().hex[:6]}", name="Other")
    email = unique_email()
    make_comment(session, site, vault, email)
    theirs = make_comment(session, other_site, vault, email)
    session.commit()
    assert gdpr.erase_by_email(session, site.id, email, ADMIN, vault=vault).erased == 1
    session.refresh(theirs)
    assert theirs.author_name == "Jane Reader"
    assert gdpr.count_by_email(session, other_site.id, email, vault=vault) == 1
    assert Role.ADMIN  # the API test checks who may call this


def test_export_and_erase_of_1000_comments_timing(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    """Measured: export and erase of 1,000 comments (two batches of 500)."""
    email = unique_email()
    for n in range(1000):
        make_comment(session, site, vault, email, body=f"Comment number {n}", thread=f"t{n % 7}")
    session.commit()
    started = time.perf_counter()
    exported = gdpr.export_by_email(session, site.id, email, vault=vault)
    export_seconds = time.perf_counter() - started
    started = time.perf_counter()
    erased = 0
    for batch in gdpr.erase_batches(session, site.id, email, ADMIN, vault=vault):
        session.commit()
        erased += len(batch.comment_ids)
    erase_seconds = time.perf_counter() - started
    dialect = session.get_bind().dialect.name
    print(f"\n[{dialect}] export 1000: {export_seconds:.2f} s; erase 1000: {erase_seconds:.2f} s")
    assert len(exported) == 1000 and erased == 1000
    assert erase_seconds < 60
