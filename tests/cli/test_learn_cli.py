"""`replyguard learn`: against a SQLite database made here, it says per site and model what
it trained or skipped and why; an unknown --site is an error. In process with CliRunner
and once as a real subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from core import labels
from core.sites import ensure_site
from models import SiteModel
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.support.devstack_proc import replyguard_executable

SCAM = [f"Recover your lost crypto wallet funds, contact our recovery agent {n}" for n in range(8)]
HAM = [f"The council vote on item {n} was closer than the article suggests." for n in range(8)]


def database(tmp_path: Path) -> str:
    """A migrated SQLite file with two sites: `gazette` (16 labels) and `quiet` (2)."""
    url = f"sqlite:///{tmp_path / 'learn.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            gazette = ensure_site(session, "gazette", name="The Gazette")
            quiet = ensure_site(session, "quiet", name="The Quiet Times")
            for body in SCAM:
                labels.record_label(
                    session, site_id=gazette.id, body=body, label="spam", source="moderator:1"
                )
            for body in HAM:
                labels.record_label(
                    session, site_id=gazette.id, body=body, label="ham", source="moderator:1"
                )
            labels.record_label(session, site_id=quiet.id, body=SCAM[0], label="spam", source="t")
            labels.record_label(session, site_id=quiet.id, body=HAM[0], label="ham", source="t")
    finally:
        engine.dispose()
    return url


def stored(url: str) -> list[tuple[str, int]]:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            rows = session.execute(select(SiteModel.kind, SiteModel.labels_used)).all()
            return [(kind, used) for kind, used in rows]
    finally:
        engine.dispose()


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["learn", *args], env={"REPLYGUARD_DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def test_learn_prints_what_it_trained_and_skipped(tmp_path: Path) -> None:
    url = database(tmp_path)
    code, out, err = run(url)
    assert code == 0, err
    lines = out.splitlines()
    assert "site 1 spam: 16 labels (8 positive), trained" in lines
    assert (
        "site 1 toxicity: 8 labels (0 positive), skipped: needs 10 labels with both classes (0/8)"
        in lines
    )
    assert (
        "site 2 spam: 2 labels (1 positive), skipped: needs 10 labels with both classes (1/2)"
        in lines
    )
    assert stored(url) == [("spam", 16)]

    # Nothing new for site 1; site 2 still cannot train, so it is tried again.
    code, out, _ = run(url)
    assert code == 0
    assert "site 1" not in out
    assert "site 2 spam: 2 labels (1 positive), skipped" in out

    # --min-labels lowers the bar; --site retrains that site even without new labels.
    code, out, _ = run(url, "--min-labels", "2")
    assert "site 2 spam: 2 labels (1 positive), trained" in out.splitlines()
    code, out, _ = run(url, "--site", "gazette")
    assert code == 0
    assert "site 1 spam: 16 labels (8 positive), trained" in out.splitlines()
    assert sorted(stored(url)) == [("spam", 2), ("spam", 16)]


def test_no_labels_anywhere(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    upgrade(url)
    code, out, err = run(url)
    assert code == 0, err
    assert out == "no site has new labels\n"


def test_unknown_site_and_bad_min_labels_are_errors(tmp_path: Path) -> None:
    url = database(tmp_path)
    code, _, err = run(url, "--site", "nowhere")
    assert code == 2
    assert "Invalid value for --site: no site 'nowhere'" in err
    code, _, err = run(url, "--min-labels", "1")
    assert code == 2
    assert "--min-labels" in err
    assert stored(url) == []


def test_real_subprocess(tmp_path: Path) -> None:
    url = database(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "REPLYGUARD_DATABASE_URL": url}
    done = subprocess.run(
        [str(replyguard_executable()), "learn", "--site", "gazette"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "site 1 spam: 16 labels (8 positive), trained" in done.stdout
    failed = subprocess.run(
        [str(replyguard_executable()), "learn", "--site", "nowhere"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert failed.returncode == 2
    assert "no site 'nowhere'" in failed.stderr
    assert "Traceback" not in failed.stderr
