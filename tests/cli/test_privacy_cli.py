"""`replyguard privacy …` against a real (SQLite) database: export, erase (confirmation,
idempotent, batches), rotate-keys (interrupted and resumed) and prune-ips (P2, P6-P8)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from cli.main import main
from core import keyrotation
from core.config import Settings
from core.privacy import PrivacyVault, new_key_material
from core.sites import get_site
from models import AuditEntry, Comment, CommentStatus
from models.db import make_engine
from tests.core.test_gdpr import decrypt, make_comment, unique_email


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    environment = {
        "REPLYGUARD_DATABASE_URL": url,
        "REPLYGUARD_EMAIL_KEYS": f"c1:{new_key_material()}",
        "REPLYGUARD_INDEX_KEY": new_key_material(),
        "REPLYGUARD_SECRET_KEY": "cli-test",
        "REPLYGUARD_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=environment).exit_code == 0
    assert runner.invoke(main, ["seed-demo"], env=environment).exit_code == 0
    return environment


@pytest.fixture
def db(env: dict[str, str]) -> Iterator[Session]:
    engine = make_engine(env["REPLYGUARD_DATABASE_URL"])
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


def vault_of(env: dict[str, str]) -> PrivacyVault:
    return PrivacyVault(Settings.from_env(env))


def seed(db: Session, env: dict[str, str], email: str, count: int) -> list[Comment]:
    site = get_site(db, "demo")
    statuses = [CommentStatus.APPROVED, CommentStatus.PENDING, CommentStatus.SPAM]
    made = [
        make_comment(db, site, vault_of(env), email, status=statuses[n % 3], body=f"Note {n}")
        for n in range(count)
    ]
    db.commit()
    return made


def test_export_writes_json_without_the_email(
    env: dict[str, str], db: Session, tmp_path: Path
) -> None:
    email = unique_email()
    seed(db, env, email, 3)
    seed(db, env, unique_email("other"), 1)
    out = tmp_path / "export.json"
    result = CliRunner().invoke(
        main,
        ["privacy", "export", "--site", "demo", "--email", email.upper(), "--output", str(out)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["count"] == 3
    assert [c["status"] for c in document["comments"]] == ["approved", "pending", "spam"]
    assert email.casefold() not in (out.read_text() + result.output).casefold()


def test_erase_asks_then_erases_in_batches_and_a_second_run_erases_nothing(
    env: dict[str, str], db: Session
) -> None:
    email = unique_email()
    rows = seed(db, env, email, 5)
    runner = CliRunner()
    base = ["privacy", "erase", "--site", "demo", "--email", email, "--batch", "2"]
    refused = runner.invoke(main, base, input="n\n", env=env)
    assert refused.exit_code == 1 and "Anonymise 5 comment(s) on demo?" in refused.output
    result = runner.invoke(main, [*base, "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert "erased 5 comment(s) on demo" in result.output
    assert email.casefold() not in result.output.casefold()
    again = runner.invoke(main, [*base, "--yes"], env=env)
    assert "erased 0 comment(s)" in again.output
    db.expire_all()
    for row in rows:
        fresh = db.get(Comment, row.id)
        assert fresh is not None and fresh.author_name == "Anonymous"
        assert decrypt(vault_of(env), fresh) == ""
    actors = db.scalars(select(AuditEntry.actor).where(AuditEntry.action == "privacy.erase"))
    assert all(actor.startswith("cli:") for actor in actors)


def test_rotate_keys_interrupted_then_resumed(env: dict[str, str], db: Session) -> None:
    emails = [unique_email() for _ in range(6)]
    for email in emails:
        seed(db, env, email, 1)
    rotated_env = {
        **env,
        "REPLYGUARD_EMAIL_KEYS": f"c2:{new_key_material()},{env['REPLYGUARD_EMAIL_KEYS']}",
    }
    vault = vault_of(rotated_env)
    # Interrupted: one batch committed, then the process dies.
    batches = keyrotation.rotate_batches(db, vault, batch_size=4)
    first = next(batches)
    db.commit()
    batches.close()
    assert first.rotated == 4
    assert keyrotation.pending(db, vault).comments == 2
    db.rollback()  # SQLite: release the lock before the command writes
    result = CliRunner().invoke(main, ["privacy", "rotate-keys", "--batch", "4"], env=rotated_env)
    assert result.exit_code == 0, result.output
    assert "rotated 2 row(s) to key c2" in result.output
    new_only = {**env, "REPLYGUARD_EMAIL_KEYS": rotated_env["REPLYGUARD_EMAIL_KEYS"].split(",")[0]}
    db.expire_all()
    stored = db.scalars(select(Comment).order_by(Comment.id)).all()
    assert sorted(decrypt(vault_of(new_only), c) for c in stored) == sorted(emails)
    db.rollback()
    again = CliRunner().invoke(main, ["privacy", "rotate-keys"], env=rotated_env)
    assert "rotated 0 row(s)" in again.output


def test_prune_ips(env: dict[str, str], db: Session) -> None:
    rows = seed(db, env, unique_email(), 2)
    rows[0].submitted_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    db.commit()
    runner = CliRunner()
    off = runner.invoke(main, ["privacy", "prune-ips", "--days", "0"], env=env)
    assert "retention is off" in off.output
    result = runner.invoke(main, ["privacy", "prune-ips"], env=env)
    assert result.exit_code == 0, result.output
    assert "pruned IP data of 1 comment(s) older than 30 day(s)" in result.output
    db.expire_all()
    assert [db.get(Comment, r.id).ip_truncated for r in rows] == [None, "203.0.113.0"]  # type: ignore[union-attr]
