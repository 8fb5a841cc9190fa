"""The seeded demo site: extra allowed origins (REPLYGUARD_DEMO_ORIGINS) are added once."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core.sites import seed_demo


def test_extra_origins_are_added_once(session: Session) -> None:
    site = seed_demo(session)
    assert site.allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
    seed_demo(session, ["http://localhost:8001/", " ", "https://news.example"])
    again = seed_demo(session, ["http://localhost:8001"])
    assert again.allowed_origins == [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://localhost:8001",
        "https://news.example",
    ]


@pytest.mark.parametrize("bad", ["news.example", "https://news.example/path", "ftp://x.example"])
def test_anything_but_a_bare_origin_is_refused(session: Session, bad: str) -> None:
    with pytest.raises(ValueError, match="not a bare origin"):
        seed_demo(session, [bad])
