"""One SQLAlchemy Session per request, opened lazily, closed (rolled back) on teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from core.config import Settings
from models.db import make_engine, make_sessionmaker
from models.db import read_only as mark_read_only


def init_app(app: Flask, settings: Settings) -> None:
    """Create the engine and session factory; register the teardown."""
    engine = make_engine(
        settings.database_url, application_name="replyguard-api", hide_parameters=True
    )
    app.extensions["replyguard.engine"] = engine
    app.extensions["sessionmaker"] = make_sessionmaker(engine)
    app.teardown_appcontext(close_session)


def get_session(*, read_only: bool = False) -> Session:
    """This request's Session, opened on first use; `read_only` for views that only read
    (on SQLite they then never wait for the write lock)."""
    if "session" not in g:
        g.session = current_app.extensions["sessionmaker"]()
        if read_only:
            mark_read_only(g.session)
    session: Session = g.session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    """Close this request's Session; anything not committed is rolled back here."""
    session = g.pop("session", None)
    if session is not None:
        session.close()
