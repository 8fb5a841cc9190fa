"""Public reads: one comment's status and a thread's approved comments, threaded and paginated."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core import comments, moderation
from core.comments import NewComment, SubmissionMeta
from core.config import Settings
from core.privacy import PrivacyVault
from models import Comment, CommentStatus, Site


def add(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    n: int,
    *,
    status: CommentStatus = CommentStatus.APPROVED,
    parent: int | None = None,
    thread: str = "t",
) -> Comment:
    data = NewComment(
        thread=thread,
        comment=f"comment {n}",
        name=f"Author {n}",
        email=f"a{n}@example.org",
        parent=parent,
    )
    comment = comments.submit(
        session, site, data, meta=SubmissionMeta(ip=f"192.0.2.{n}"), vault=vault, settings=settings
    )
    if status is not CommentStatus.PENDING:
        moderation.decide(session, comment, status, decided_by="test", reason="test")
    session.commit()
    return comment


def test_status_of_pending_and_approved(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    pending = add(session, site, vault, settings, 1, status=CommentStatus.PENDING)
    body = client.get(f"/api/v1/sites/gazette/comments/{pending.id}").get_json()
    assert body["status"] == "pending"
    assert "comment" not in body  # text stays private until approved
    approved = add(session, site, vault, settings, 2)
    body = client.get(f"/api/v1/sites/gazette/comments/{approved.id}").get_json()
    assert body["status"] == "approved"
    assert body["comment"]["body"] == "comment 2"
    assert "email" not in str(body) and "example.org" not in str(body)


def test_status_of_a_comment_of_another_site_is_404(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    from core.sites import seed_demo

    seed_demo(session)
    comment = add(session, site, vault, settings, 1)
    assert client.get(f"/api/v1/sites/demo/comments/{comment.id}").status_code == 404
    assert client.get("/api/v1/sites/gazette/comments/999999").status_code == 404


def test_thread_lists_only_approved_comments_threaded(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    root = add(session, site, vault, settings, 1)
    reply = add(session, site, vault, settings, 2, parent=root.id)
    add(session, site, vault, settings, 3, parent=reply.id)
    add(session, site, vault, settings, 4, status=CommentStatus.HELD)
    add(session, site, vault, settings, 5, status=CommentStatus.PENDING)
    add(session, site, vault, settings, 6, status=CommentStatus.SPAM)
    body = client.get("/api/v1/sites/gazette/threads/t/comments").get_json()
    assert body["total"] == 3
    assert [c["id"] for c in body["comments"]] == [root.id]
    assert body["comments"][0]["replies"][0]["id"] == reply.id
    assert body["comments"][0]["replies"][0]["replies"][0]["body"] == "comment 3"
    assert body["next"] is None


def test_thread_pagination_by_top_level_comment(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    ids = [add(session, site, vault, settings, n).id for n in range(1, 6)]
    first = client.get("/api/v1/sites/gazette/threads/t/comments?limit=2").get_json()
    assert [c["id"] for c in first["comments"]] == ids[:2]
    second = client.get(first["next"]).get_json()
    assert [c["id"] for c in second["comments"]] == ids[2:4]
    third = client.get(second["next"]).get_json()
    assert [c["id"] for c in third["comments"]] == ids[4:]
    assert third["next"] is None


def test_unknown_thread_is_empty_and_unknown_site_404(client: FlaskClient, site: Site) -> None:
    body = client.get("/api/v1/sites/gazette/threads/nothing-here/comments").get_json()
    assert body == {
        "thread": {"key": "nothing-here", "url": None, "title": None, "closed": False},
        "total": 0,
        "comments": [],
        "next": None,
    }
    assert client.get("/api/v1/sites/nope/threads/x/comments").status_code == 404


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_demo_page_renders_form_and_escapes_comments(
    client: FlaskClient, session: Session, vault: PrivacyVault, settings: Settings
) -> None:
    from api.views.demo import DEMO_THREAD
    from core.sites import seed_demo

    demo = seed_demo(session)
    data = NewComment(
        thread=DEMO_THREAD,
        comment="<script>alert(1)</script>",
        name="<b>X</b>",
        email="x@example.org",
        website="https://x.example/",
    )
    comment = comments.submit(
        session, demo, data, meta=SubmissionMeta(), vault=vault, settings=settings
    )
    moderation.decide(session, comment, CommentStatus.APPROVED, decided_by="test", reason="test")
    session.commit()
    pending = comments.submit(
        session,
        demo,
        NewComment(thread=DEMO_THREAD, comment="still waiting", name="P", email="p@example.org"),
        meta=SubmissionMeta(),
        vault=vault,
        settings=settings,
    )
    session.commit()
    marker = "/demo?rg_status=awaiting-moderation&rg_comment="
    html = client.get(f"{marker}{pending.id}").get_data(as_text=True)
    assert "Your comment is awaiting moderation." in html
    assert f"(comment #{pending.id})" in html
    # Once approved the reader is told it is published; an id that is not ours shows nothing.
    approved = client.get(f"{marker}{comment.id}").get_data(as_text=True)
    assert "awaiting moderation" not in approved
    assert f'<a href="#comment-{comment.id}">your comment</a> has been published' in approved
    unknown = client.get(f"{marker}999999").get_data(as_text=True)
    assert 'role="status"' not in unknown
    html = client.get("/demo").get_data(as_text=True)
    assert "Leave a Reply" in html
    assert "Your email address will not be published." in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'rel="external nofollow ugc noopener"' in html
    assert "x@example.org" not in html
