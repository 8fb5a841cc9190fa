"""Fixtures: real PostgreSQL with migrations applied once, a SAVEPOINT per test, the Flask
app bound to that test's session, and test keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api import create_app
from core import outbox
from core.config import Settings
from core.privacy import PrivacyVault, new_key_material
from core.sites import ensure_site
from models.db import make_engine
from models.migrate import upgrade
from tests.support.databases import REDIS_URL, create_database, drop_database
from tests.support.readcache import isolate_read_cache

TEST_ORIGIN = "https://news.example"


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database for this test session, migrated to head: every database test runs
    on PostgreSQL and again on SQLite (the embedded default)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"
        upgrade(url)
        yield url
        return
    url = create_database()
    upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def base_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with fixed random keys for the session."""
    return Settings(
        env="test",
        database_url=database_url,
        broker_url=REDIS_URL,
        secret_key="test-secret",
        email_keys=f"t1:{new_key_material()}",
        index_key=new_key_material(),
        instance_path=str(tmp_path_factory.mktemp("instance")),
        log_level="WARNING",
    )


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A Session whose commits become SAVEPOINTs inside one outer transaction we roll back."""
    with engine.connect() as connection:
        outer = connection.begin()
        sess = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        yield sess
        sess.close()
        outer.rollback()


@pytest.fixture
def vault(settings: Settings) -> PrivacyVault:
    return PrivacyVault(settings)


@pytest.fixture
def published(session: Session) -> list[tuple[str, int]]:
    """Tasks the code under test published after a commit (recorded, not sent)."""
    sent: list[tuple[str, int]] = []
    outbox.install_publisher(session, lambda name, ref: sent.append((name, ref)))
    return sent


@pytest.fixture
def site(session: Session) -> Any:
    """A site allowing TEST_ORIGIN, plus the demo site."""
    made = ensure_site(session, "gazette", name="The Gazette", allowed_origins=[TEST_ORIGIN])
    session.commit()
    return made


@pytest.fixture
def app(settings: Settings, session: Session, published: list[tuple[str, int]]) -> Flask:
    """The Flask app with views using this test's session."""
    application = create_app(settings)
    application.config["TESTING"] = False  # exercise the real error handlers
    application.extensions["sessionmaker"] = lambda: session
    isolate_read_cache(application, session)
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
