"""`replyguard backtest`: JSON lines per row, the summary and confusion matrix on stderr,
clear errors (exit code 2) for bad input; in process with CliRunner and once for real."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from core.sites import ensure_site
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.support.devstack_proc import replyguard_executable

LABELLED = """id,author,email,text,label
a1,Ann,ann@example.org,"A fair point about the budget, thank you.",ham
a2,Bob,bob@example.org,"Cheap pills at https://x.example and http://y.example",spam
a3,Cy,cy@example.org,Nice reporting on the vote.,0
a4,Di,di@example.org,"Buy now http://a.example http://b.example http://c.example",1
"""


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["backtest", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_labelled_csv_gives_json_lines_and_a_confusion_matrix(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(LABELLED)
    code, out, err = run(str(source))
    assert code == 0, err
    rows = lines(out)
    assert [r["id"] for r in rows] == ["a1", "a2", "a3", "a4"]
    assert [r["decision"] for r in rows] == ["approve", "hold", "approve", "hold"]
    assert "max_links: 2 links in the comment (the site holds 2 or more)" in rows[1]["reasons"]
    assert rows[1]["scores"]["max_links"] == 1.0  # type: ignore[index]
    assert rows[0] == {"id": "a1", "decision": "approve", "reasons": [], "scores": {}}
    assert "ann@example.org" not in out + err
    assert "decisions: approve 2, hold 2, reject 0, spam 0" in err
    assert "confusion matrix (rows: label, columns: decision)" in err
    matrix = [line.split() for line in err.splitlines()]
    assert ["label", "approve", "hold", "reject", "spam", "total"] in matrix
    assert ["spam", "0", "1", "0", "0", "1"] in matrix
    assert ["1", "(spam)", "0", "1", "0", "0", "1"] in matrix
    assert ["ham", "1", "0", "0", "0", "1"] in matrix
    assert ["0", "(ham)", "1", "0", "0", "0", "1"] in matrix
    assert "spam (decision spam): precision n/a, recall 0.000" in err
    assert "not approved (hold, reject or spam): precision 1.000, recall 1.000" in err
    assert "rows/s" in err


def test_unlabelled_youtube_style_columns_and_output_file(tmp_path: Path) -> None:
    source = tmp_path / "yt.csv"
    source.write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT\n"
        "x1,Ann,2013-11-07T06:20:48,First comment here\n"
        "x2,Bob,,Second comment here\n"
    )
    target = tmp_path / "out.jsonl"
    code, out, err = run(str(source), "--output", str(target), "--no-progress")
    assert code == 0, err
    assert out == ""
    assert [r["id"] for r in lines(target.read_text())] == ["x1", "x2"]
    assert "confusion matrix" not in err
    assert "backtest: 2 rows" in err


def test_history_checks_see_earlier_rows(tmp_path: Path) -> None:
    """Rows are decided in order with a MemoryHistory behind the context."""
    from core.backtest import Backtester, read_rows
    from core.checks.history import NearDuplicates
    from core.sites import DEFAULT_POLICY

    body = (
        "Earn 500 dollars a day from home with this simple trick, visit my profile to find "
        "out how it works and start today"
    )
    source = tmp_path / "dupes.csv"
    source.write_text("name,comment\n" + "".join(f'u{n},"{body}"\n' for n in range(5)))
    backtester = Backtester(policy=DEFAULT_POLICY, checks=[NearDuplicates()])
    with source.open(newline="") as stream:
        decisions = [backtester.decide(row).decision for row in read_rows(stream, {})]
    # One other author: held; four others (the default spam threshold): spam.
    assert decisions == ["approve", "hold", "hold", "hold", "spam"]


def test_column_overrides(tmp_path: Path) -> None:
    source = tmp_path / "odd.csv"
    source.write_text("key,body,verdict\nk1,Hello there friends,toxic\nk2,Good morning all,ok\n")
    code, out, err = run(
        str(source), "--text-column", "body", "--label-column", "verdict", "--id-column", "key"
    )
    assert code == 0, err
    assert [r["id"] for r in lines(out)] == ["k1", "k2"]
    assert "toxic (spam)" in err and "ok (ham)" in err


def test_bad_inputs_exit_with_code_2_and_say_what_is_wrong(tmp_path: Path) -> None:
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("id,author\n1,Ann\n")
    code, _, err = run(str(no_text))
    assert code == 2 and "no text column" in err

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text\nfine\ncaf\xe9 au lait\n".encode("latin-1"))
    code, _, err = run(str(latin1))
    assert code == 2 and "line 3: not UTF-8" in err

    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,text\n1,fine\n2,too,many\n")
    code, out, err = run(str(ragged))
    assert code == 2 and "row 2 (line 3) has 3 fields, the header has 2" in err
    assert len(lines(out)) == 1  # rows before the bad one were written

    bad_label = tmp_path / "label.csv"
    bad_label.write_text("text,label\nhello there,maybe\n")
    code, _, err = run(str(bad_label))
    assert code == 2 and "row 1 (line 2): label 'maybe' is not one of" in err

    code, _, err = run(str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in err

    code, _, err = run(str(no_text), "--text-column", "nope")
    assert code == 2 and "no column 'nope'" in err


def test_site_policy_from_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bt.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        site = ensure_site(session, "strict", name="Strict")
        site.policy = {"max_links": 1}
    engine.dispose()
    source = tmp_path / "in.csv"
    source.write_text(
        "text\nThe council minutes are at https://one.example/minutes if you want the source.\n"
    )
    env = {"REPLYGUARD_DATABASE_URL": url}
    code, out, err = run(str(source), "--site", "strict", env=env)
    assert code == 0, err
    assert lines(out)[0]["decision"] == "hold"
    code, out, _ = run(str(source), env=env)
    assert lines(out)[0]["decision"] == "approve"
    code, _, err = run(str(source), "--site", "nope", env=env)
    assert code == 2 and "no site 'nope'" in err


def test_real_subprocess(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(LABELLED)
    done = subprocess.run(
        [str(replyguard_executable()), "backtest", str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [r["decision"] for r in lines(done.stdout)] == ["approve", "hold", "approve", "hold"]
    assert "confusion matrix" in done.stderr
    assert "\r" not in done.stderr  # no progress bar when stderr is not a terminal
    bad = tmp_path / "bad.csv"
    bad.write_text("author\nAnn\n")
    failed = subprocess.run(
        [str(replyguard_executable()), "backtest", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 2 and "no text column" in failed.stderr


def test_shadow_checks_are_listed_as_such_and_do_not_decide() -> None:
    from core.backtest import Backtester, read_rows
    from core.classify.registry import default_classifiers
    from core.sites import DEFAULT_POLICY

    policy = {
        **DEFAULT_POLICY,
        "moderation_words": ["budget"],
        "shadow_checks": ["moderation_words"],
    }
    rows = read_rows(io.StringIO("text\nA fair point about the budget. Thank you.\n"), {})
    tester = Backtester(policy=policy, classifiers=default_classifiers())
    [result] = [tester.decide(row) for row in rows]
    assert result.decision == "approve"
    assert any(r.startswith("moderation_words (shadow): ") for r in result.reasons)
