"""One SQLAlchemy Session per request, opened lazily, closed (rolled back) on teardown."""

from __future__ import annotations

from collections.abc import Callable

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
        g.session_read_only = read_only
        if read_only:
            mark_read_only(g.session)
    session: Session = g.session
    return session


def write_apart(session: Session, write: Callable[[Session], None]) -> None:
    """Run a small write for a request whose session is read-only (for example refreshing a
    moderator's idle timer on a page view): in a transaction of its own, committed at once,
    after which the session is read-only again. On a writable session the write simply
    joins the view's transaction."""
    if not g.get("session_read_only"):
        write(session)
        return
    # End the read-only transaction (nothing to flush; loaded objects stay usable, the
    # sessions do not expire on commit) so the write gets a writer's transaction.
    session.commit()
    write(session)
    session.commit()
    mark_read_only(session)


def close_session(_exc: BaseException | None = None) -> None:
    """Close this request's Session; anything not committed is rolled back here."""
    session = g.pop("session", None)
    if session is not None:
        session.close()
