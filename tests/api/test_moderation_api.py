"""The moderation API end to end through Flask on real databases: access rules, the queue,
one comment's detail, decisions (409 on conflicts), bulk actions, replies, author marks,
email reveal, settings and stats."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import moderation
from core.config import Settings
from core.privacy import PrivacyVault
from core.sites import ensure_site
from models import ApiToken, AuditEntry, Comment, CommentStatus, Decision, Event, Role, Site
from tests.support.moderation import HOLD_WORD, decided, held, submitted, token

BASE = "/api/v1/sites/gazette/moderation"


def post(client: FlaskClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(
        BASE + path, data=json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def admin(session: Session, site: Site) -> dict[str, str]:
    return token(session, site, Role.ADMIN)


@pytest.fixture
def mod(session: Session, site: Site) -> dict[str, str]:
    return token(session, site, Role.MODERATOR)


def test_every_route_needs_credentials(client: FlaskClient, site: Site) -> None:
    response = client.get(BASE + "/queue")
    assert response.status_code == 401
    assert response.get_json()["error"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.get(BASE + "/queue", headers={"Authorization": "Bearer rgt_nope"})
    assert bad.status_code == 401


def test_a_token_of_another_site_sees_nothing_here(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    other = ensure_site(session, "other", name="Other")
    session.commit()
    comment = held(session, site, vault, settings)
    foreign = token(session, other, Role.ADMIN)
    for path in ("/queue", f"/comments/{comment.id}", "/audit", "/stats"):
        response = client.get(BASE + path, headers=foreign)
        assert response.status_code == 404, path
    response = post(client, f"/comments/{comment.id}/decision", {"action": "approve"}, foreign)
    assert response.status_code == 404
    assert session.get(Comment, comment.id).status is CommentStatus.HELD  # type: ignore[union-attr]


def test_queue_lists_newest_first_pages_by_cursor_and_counts(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
) -> None:
    ids = [held(session, site, vault, settings).id for _ in range(5)]
    decided(session, site, vault, settings)  # approved, not in the held queue
    first = client.get(BASE + "/queue?status=held&limit=2", headers=admin).get_json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert first["counts"]["held"] == {"count": 5, "capped": False}
    assert first["counts"]["approved"]["count"] == 1
    second = client.get(first["next"], headers=admin).get_json()
    third = client.get(second["next"], headers=admin).get_json()
    assert [i["id"] for i in second["items"] + third["items"]] == ids[::-1][2:]
    assert third["next"] is None
    oldest = client.get(BASE + "/queue?order=oldest", headers=admin).get_json()
    assert [item["id"] for item in oldest["items"]] == ids
    item = first["items"][0]
    assert item["latest_decision"]["checks"]
    assert HOLD_WORD in item["latest_decision"]["reason"]
    assert "@" in item["masked_email"] and "…" in item["masked_email"]


def test_queue_filters(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
) -> None:
    alice = held(session, site, vault, settings, name="Alice Marsh", email="Alice@Example.org")
    in_other_thread = held(session, site, vault, settings, thread="budget")
    linky = submitted(
        session, site, vault, settings, body="see https://a.example and https://b.example"
    )
    moderation.moderate(session, linky.id, vault=vault)
    session.commit()

    def ids(query: str) -> list[int]:
        response = client.get(BASE + "/queue?" + query, headers=admin)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids("email=alice%40example.org") == [alice.id]  # through the blind index
    assert ids("author=marsh") == [alice.id]
    assert ids("thread=budget") == [in_other_thread.id]
    assert ids("check=max_links") == [linky.id]
    assert ids("check=moderation_words") == [in_other_thread.id, alice.id]
    assert ids("since=2999-01-01") == []
    bad = client.get(BASE + "/queue?status=nonsense&limit=0", headers=admin)
    assert bad.status_code == 422
    assert set(bad.get_json()["fields"]) == {"status", "limit"}


def test_detail_explains_the_decision_without_the_email(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
) -> None:
    email = "carla.secret@example.org"
    decided(session, site, vault, settings, email=email)  # one approved earlier
    comment = held(session, site, vault, settings, email=email, body=f"Two {HOLD_WORD}s: HeldWord")
    response = client.get(BASE + f"/comments/{comment.id}", headers=admin)
    assert response.status_code == 200
    assert email.encode() not in response.data and b"carla.secret" not in response.data
    detail = response.get_json()
    assert detail["masked_email"] == "c…@example.org"
    [decision] = detail["decisions"]
    assert decision["to_status"] == "held"
    words = next(c for c in decision["checks"] if c["check"] == "moderation_words")
    assert words["verdict"] == "hold" and HOLD_WORD in words["reason"]
    body = detail["body"]
    assert [body[a:b].lower() for a, b in words["spans"]] == [HOLD_WORD, HOLD_WORD]
    assert detail["author"]["history"]["approved"] == 1
    assert detail["author"]["history"]["held"] == 1


def test_approve_publishes_at_once_with_audit_and_event(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    mod: dict[str, str],
) -> None:
    comment = held(session, site, vault, settings)
    response = post(client, f"/comments/{comment.id}/decision", {"action": "approve"}, mod)
    assert response.status_code == 200
    assert response.get_json()["comment"]["status"] == "approved"
    public = client.get("/api/v1/sites/gazette/threads/council-vote/comments").get_json()
    assert comment.id in [c["id"] for c in public["comments"]]
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.comment_id == comment.id))
    assert (entry.action, entry.before, entry.after) == ("comment.approve", "held", "approved")
    assert entry.actor.startswith("token:")
    event_types = session.scalars(
        select(Event.type).where(Event.comment_id == comment.id).order_by(Event.id)
    ).all()
    assert event_types == ["comment.held", "comment.approved"]
    payload = session.scalars(select(Event.payload).where(Event.comment_id == comment.id)).first()
    assert "@" not in json.dumps(payload)


def test_second_decider_gets_409_and_sees_the_first_decision(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    mod: dict[str, str],
    admin: dict[str, str],
) -> None:
    comment = held(session, site, vault, settings)
    path = f"/comments/{comment.id}/decision"
    first = post(client, path, {"action": "approve", "expected_status": "held"}, mod)
    assert first.status_code == 200
    # The second moderator saw it held and wants it rejected: refused, with the reason.
    second = post(client, path, {"action": "reject", "expected_status": "held"}, admin)
    assert second.status_code == 409
    body = second.get_json()
    assert body["error"] == "decision_conflict"
    assert body["current_status"] == "approved"
    assert body["last_decision"]["to_status"] == "approved"
    assert body["last_decision"]["by"].startswith("API token")
    # Asking for the state it is already in is a conflict too.
    again = post(client, path, {"action": "approve"}, admin)
    assert again.status_code == 409 and again.get_json()["current_status"] == "approved"
    assert session.get(Comment, comment.id).status is CommentStatus.APPROVED  # type: ignore[union-attr]
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.comment_id == comment.id)
        )
        == 1
    )


def test_spam_ham_and_delete(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    mod: dict[str, str],
) -> None:
    comment = held(session, site, vault, settings)
    path = f"/comments/{comment.id}/decision"
    assert post(client, path, {"action": "ham"}, mod).status_code == 409  # not spam yet
    assert post(client, path, {"action": "spam"}, mod).status_code == 200
    assert post(client, path, {"action": "ham"}, mod).get_json()["comment"]["status"] == "approved"
    assert post(client, path, {"action": "delete"}, mod).status_code == 200
    public = client.get("/api/v1/sites/gazette/threads/council-vote/comments").get_json()
    assert comment.id not in [c["id"] for c in public["comments"]]
    assert client.get(f"/api/v1/sites/gazette/comments/{comment.id}").get_json()["status"] == (
        "deleted"
    )
    bad = post(client, path, {"action": "publish", "extra": 1}, mod)
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"action", "extra"}


def test_roles_are_enforced(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = held(session, site, vault, settings)
    viewer = token(session, site, Role.VIEWER)
    moderator = token(session, site, Role.MODERATOR)
    assert client.get(BASE + f"/comments/{comment.id}", headers=viewer).status_code == 200
    denied = post(client, f"/comments/{comment.id}/decision", {"action": "approve"}, viewer)
    assert denied.status_code == 403 and denied.get_json()["error"] == "permission_denied"
    reveal = post(client, f"/comments/{comment.id}/reveal-email", {}, moderator)
    assert reveal.status_code == 403
    settings_change = client.put(BASE + "/settings", json={"max_links": 5}, headers=moderator)
    assert settings_change.status_code == 403
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_admin_reveals_an_email_and_it_is_audited(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
) -> None:
    comment = held(session, site, vault, settings, email="reveal.me@example.org")
    response = post(client, f"/comments/{comment.id}/reveal-email", {}, admin)
    assert response.status_code == 200
    assert response.get_json() == {"email": "reveal.me@example.org"}
    assert response.headers["Cache-Control"] == "no-store"
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "email.reveal"))
    assert entry.comment_id == comment.id


def test_bulk_decides_what_it_can_and_reports_the_rest(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    mod: dict[str, str],
) -> None:
    a, b = held(session, site, vault, settings), held(session, site, vault, settings)
    already = held(session, site, vault, settings)
    post(client, f"/comments/{already.id}/decision", {"action": "spam"}, mod)
    response = post(
        client, "/bulk", {"action": "spam", "ids": [a.id, b.id, already.id, 999999]}, mod
    )
    assert response.status_code == 200
    body = response.get_json()
    assert sorted(d["id"] for d in body["decided"]) == sorted([a.id, b.id])
    assert set(body["failed"]) == {str(already.id), "999999"}
    statuses = session.scalars(select(Comment.status).where(Comment.id.in_([a.id, b.id])))
    assert set(statuses) == {CommentStatus.SPAM}
    assert "already spam" in body["failed"][str(already.id)]
    assert post(client, "/bulk", {"action": "spam", "ids": []}, mod).status_code == 422


def test_reply_as_the_site_is_public_at_once(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    mod: dict[str, str],
) -> None:
    parent = decided(session, site, vault, settings)
    response = post(client, f"/comments/{parent.id}/reply", {"comment": "Thanks, fixed."}, mod)
    assert response.status_code == 201
    reply = response.get_json()["comment"]
    assert reply["author_name"] == site.name and reply["status"] == "approved"
    public = client.get("/api/v1/sites/gazette/threads/council-vote/comments").get_json()
    [root] = [c for c in public["comments"] if c["id"] == parent.id]
    assert [r["id"] for r in root["replies"]] == [reply["id"]]


def test_banned_author_is_spam_and_trusted_author_may_post_links(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    mod: dict[str, str],
) -> None:
    troll = held(session, site, vault, settings, email="troll@example.org")
    response = post(
        client, f"/comments/{troll.id}/author", {"action": "ban", "reason": "abuse"}, mod
    )
    assert response.status_code == 200 and response.get_json()["mark"]["kind"] == "ban"
    again = decided(session, site, vault, settings, email="TROLL@example.org")
    assert again.status is CommentStatus.SPAM
    [decision] = session.scalars(select(Decision).where(Decision.comment_id == again.id))
    assert decision.decided_by == "check:author_banned" and "abuse" in decision.reason

    regular = decided(session, site, vault, settings, email="regular@example.org")
    post(client, f"/comments/{regular.id}/author", {"action": "trust"}, mod)
    links = "Sources: https://a.example/1 and https://b.example/2"
    trusted = decided(session, site, vault, settings, email="regular@example.org", body=links)
    assert trusted.status is CommentStatus.APPROVED
    stranger = decided(session, site, vault, settings, body=links + " ")
    assert stranger.status is CommentStatus.HELD

    cleared = post(client, f"/comments/{troll.id}/author", {"action": "clear"}, mod)
    assert cleared.status_code == 200
    after = decided(session, site, vault, settings, email="troll@example.org")
    assert after.status is CommentStatus.APPROVED
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["author.ban", "author.trust", "author.clear"]


def test_settings_change_is_validated_audited_and_applied(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
) -> None:
    bad = client.put(BASE + "/settings", json={"max_links": -1, "colour": "red"}, headers=admin)
    assert bad.status_code == 422 and "colour" in bad.get_json()["fields"]
    response = client.put(
        BASE + "/settings",
        json={"premoderation": True, "disallowed_words": "casino\n\ncasino\nloans"},
        headers=admin,
    )
    assert response.status_code == 200
    assert response.get_json()["disallowed_words"] == ["casino", "loans"]
    assert client.get(BASE + "/settings", headers=admin).get_json()["premoderation"] is True
    comment = decided(session, site, vault, settings)
    assert comment.status is CommentStatus.HELD
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "settings.update"))
    assert entry.detail["premoderation"] == {"before": False, "after": True}


def test_thread_premoderation(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
) -> None:
    decided(session, site, vault, settings, thread="election")  # creates the thread
    url = BASE + "/threads/election/premoderation"
    assert client.put(url, json={"premoderation": True}, headers=admin).status_code == 200
    in_thread = decided(session, site, vault, settings, thread="election")
    elsewhere = decided(session, site, vault, settings, thread="weather")
    assert (in_thread.status, elsewhere.status) == (CommentStatus.HELD, CommentStatus.APPROVED)
    missing = client.put(
        BASE + "/threads/nope/premoderation", json={"premoderation": True}, headers=admin
    )
    assert missing.status_code == 422


def test_stats_and_audit_log(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
) -> None:
    comment = held(session, site, vault, settings)
    decided(session, site, vault, settings)
    post(client, f"/comments/{comment.id}/decision", {"action": "spam"}, admin)
    stats = client.get(BASE + "/stats?days=7", headers=admin).get_json()
    assert len(stats["days"]) == 7
    assert stats["per_day"]["spam"][-1] == 1 and stats["per_day"]["approved"][-1] == 1
    assert stats["spam_rate"] == 0.5
    assert {"check": "moderation_words", "count": 1} in stats["top_reasons"]
    log = client.get(BASE + "/audit", headers=admin).get_json()
    assert [e["action"] for e in log["entries"]] == ["comment.spam"]
    assert log["entries"][0]["before"] == "held"


def test_a_read_records_the_tokens_last_use_and_unknown_sites_look_like_foreign_ones(
    client: FlaskClient, session: Session, site: Site, admin: dict[str, str]
) -> None:
    assert client.get(BASE + "/queue", headers=admin).status_code == 200
    session.expire_all()
    [used] = session.scalars(select(ApiToken.last_used_at)).all()
    assert used is not None
    ensure_site(session, "other", name="Other")
    session.commit()
    unknown = client.get("/api/v1/sites/nope/moderation/queue", headers=admin)
    foreign = client.get("/api/v1/sites/other/moderation/queue", headers=admin)
    assert unknown.status_code == foreign.status_code == 404
    assert unknown.get_json() == foreign.get_json()


def test_check_filter_examines_a_bounded_window_per_page(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("core.queue.CHECK_SCAN_WINDOW", 3)
    linky = submitted(
        session, site, vault, settings, body="see https://a.example and https://b.example"
    )
    moderation.moderate(session, linky.id, vault=vault)
    session.commit()
    newer = [held(session, site, vault, settings).id for _ in range(4)]
    seen: list[int] = []
    pages = 0
    url: str | None = BASE + "/queue?check=max_links&limit=2"
    while url is not None:
        body = client.get(url, headers=admin).get_json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        url = body["next"]
        pages += 1
    assert seen == [linky.id]
    assert pages == 2  # the first window (three newest) held no match, yet gave a cursor
    everything = client.get(BASE + "/queue?limit=100", headers=admin).get_json()
    assert [i["id"] for i in everything["items"]] == [*newer[::-1], linky.id]
