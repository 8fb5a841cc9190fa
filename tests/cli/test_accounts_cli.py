"""`replyguard moderators …` and `replyguard tokens …` against a real (SQLite) database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from cli.main import main
from core import accounts
from core.config import Settings
from models import Role
from models.db import make_engine
from tests.support.moderation import PASSWORD


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    runner = CliRunner()
    environment = {"REPLYGUARD_DATABASE_URL": url}
    assert runner.invoke(main, ["migrate"], env=environment).exit_code == 0
    assert runner.invoke(main, ["seed-demo"], env=environment).exit_code == 0
    return environment


def test_create_a_moderator_who_can_log_in(env: dict[str, str]) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "moderators",
            "create",
            "--site",
            "demo",
            "--role",
            "admin",
            "--email",
            "Ed@Example.org",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "created ed@example.org: admin on demo" in result.output
    assert PASSWORD not in result.output
    engine = make_engine(env["REPLYGUARD_DATABASE_URL"])
    with Session(engine) as session:
        account = accounts.authenticate(
            session, "ed@example.org", PASSWORD, ip_index=None, settings=Settings()
        )
        assert accounts.roles_of(session, account.id) == {1: Role.ADMIN}
    engine.dispose()
    listed = runner.invoke(main, ["moderators", "list"], env=env)
    assert "ed@example.org: admin on demo" in listed.output


def test_weak_password_and_unknown_site_are_refused(env: dict[str, str]) -> None:
    runner = CliRunner()
    weak = runner.invoke(
        main,
        [
            "moderators",
            "create",
            "--site",
            "demo",
            "--role",
            "viewer",
            "--email",
            "a@b.org",
            "--password-stdin",
        ],
        input="short\n",
        env=env,
    )
    assert weak.exit_code != 0 and "at least 12 characters" in weak.output
    nosite = runner.invoke(
        main,
        [
            "moderators",
            "create",
            "--site",
            "nope",
            "--role",
            "viewer",
            "--email",
            "a@b.org",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=env,
    )
    assert nosite.exit_code != 0 and "no site 'nope'" in nosite.output


def test_token_is_printed_once_and_can_be_revoked(env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(
        main, ["tokens", "create", "--site", "demo", "--role", "admin", "--label", "ci"], env=env
    )
    assert created.exit_code == 0
    secret = created.stdout.strip()
    assert secret.startswith("rgt_")
    listed = runner.invoke(main, ["tokens", "list"], env=env)
    assert secret not in listed.output and "ci" in listed.output and "active" in listed.output
    assert runner.invoke(main, ["tokens", "revoke", "1"], env=env).exit_code == 0
    assert "revoked" in runner.invoke(main, ["tokens", "list"], env=env).output
    assert runner.invoke(main, ["tokens", "revoke", "1"], env=env).exit_code != 0
