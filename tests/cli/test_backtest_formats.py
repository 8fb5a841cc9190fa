"""`replyguard backtest` input formats: csv (with the Davidson, SFU and Jigsaw label
columns), SMS Spam Collection lines, JSON lines and the toxic-spans folder; detection and
--format, --limit, --label-names; and exit code 2 with a message naming the problem."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from core.backtest import read_input

SMS = "ham\tSee you at the match tonight\nspam\tWIN a prize now, reply WIN to 80082\n\nham\tOk\n"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["backtest", "--no-progress", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def ids(out: str) -> list[str]:
    return [str(json.loads(line)["id"]) for line in out.splitlines()]


def matrix(err: str) -> list[list[str]]:
    """The summary's lines split on blanks (label names with spaces span several cells)."""
    return [line.split() for line in err.splitlines()]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sms_lines_are_detected_and_labelled_spam_or_ham(tmp_path: Path) -> None:
    code, out, err = run(str(write(tmp_path / "SMSSpamCollection", SMS)))
    assert code == 0, err
    assert ids(out) == ["1", "2", "3"]
    assert "confusion matrix (rows: label, columns: decision)" in err
    rows = matrix(err)
    assert any(r[:1] == ["spam"] and r[-1] == "1" for r in rows)  # bare: spam/ham read as-is
    assert any(r[:1] == ["ham"] and r[-1] == "2" for r in rows)
    assert "spam (decision spam): precision" in err


def test_sms_from_stdin_and_a_bad_line(tmp_path: Path) -> None:
    code, out, err = run("-", stdin=SMS)
    assert code == 0, err
    assert len(ids(out)) == 3
    code, out, err = run(str(write(tmp_path / "sms", "ham\tfine\nmaybe\tnot a label\n")))
    assert code == 2
    assert "row 2 (line 2): expected `ham` or `spam`, a tab, then the text" in err
    assert ids(out) == ["1"]
    code, _, err = run(str(tmp_path / "sms"), "--text-column", "x")
    assert code == 2 and "do not apply to SMS Spam Collection lines" in err


def test_json_lines_with_the_csv_field_names(tmp_path: Path) -> None:
    lines = [
        {"id": "c1", "text": "A thoughtful reply about the article", "label": 0, "user": "Ann"},
        {"Comment": "Another view on the same story", "label": 1, "title": "T", "user": "Bo"},
        {"content": "No label on this one", "label": None, "date": 1700000000},
        {"text": "Boolean label", "label": True, "author": "Cy"},
    ]
    source = write(tmp_path / "in.jsonl", "\n" + "\n".join(json.dumps(x) for x in lines) + "\n\n")
    code, out, err = run(str(source))
    assert code == 0, err
    assert ids(out) == ["c1", "2", "3", "4"]
    rows = matrix(err)
    assert ["1", "(spam)"] in [r[:2] for r in rows]
    assert ["0", "(ham)"] in [r[:2] for r in rows]
    assert ["true", "(spam)"] in [r[:2] for r in rows]
    assert ["(none)"] in [r[:1] for r in rows]

    code, _, err = run(str(source), "--label-names", "toxic")
    assert code == 0, err
    assert ["1", "(toxic)"] in [r[:2] for r in matrix(err)]
    assert "toxic (decision reject): precision" in err

    code, out, err = run(str(source), "--text-column", "comment")
    assert code == 2 and "row 1 (line 2): no field 'comment' for the text" in err


def test_bad_json_lines_exit_2_naming_the_line(tmp_path: Path) -> None:
    good = json.dumps({"text": "fine words here", "label": "ham"})
    source = write(tmp_path / "bad.jsonl", f"{good}\n{good}\n{{'text': 'single quotes'}}\n")
    code, out, err = run(str(source))
    assert code == 2
    assert "line 3: not valid JSON" in err
    assert len(ids(out)) == 2  # rows before the bad line were written

    code, _, err = run(str(write(tmp_path / "list.jsonl", '{"text": "ok"}\n[1, 2]\n')))
    assert code == 2 and "line 2: expected a JSON object, got list" in err

    code, _, err = run(str(write(tmp_path / "notext.jsonl", '{"body": "x", "label": 1}\n')))
    assert code == 2 and "row 1 (line 1): no text field" in err and "body, label" in err

    nested = write(tmp_path / "nested.jsonl", '{"text": {"a": 1}}\n')
    code, _, err = run(str(nested))
    assert code == 2 and "field 'text' is a JSON dict" in err

    code, _, err = run(str(write(tmp_path / "lab.jsonl", '{"text": "hi there", "label": 5}\n')))
    assert code == 2 and "row 1 (line 1): label '5' is not one of" in err


def test_davidson_classes_read_as_hate_offensive_neither(tmp_path: Path) -> None:
    source = write(
        tmp_path / "labeled_data.csv",
        ",count,hate_speech,offensive_language,neither,class,tweet\n"
        "0,3,2,1,0,0,first tweet words\n"
        "1,3,0,3,0,1,second tweet words\n"
        "2,3,0,0,3,2,third tweet words\n",
    )
    code, out, err = run(str(source))
    assert code == 0, err
    assert len(ids(out)) == 3
    firsts = [r[:2] for r in matrix(err)]
    assert ["hate", "(toxic)"] in firsts
    assert ["offensive", "(toxic)"] in firsts
    assert ["neither", "(ok)"] in firsts
    assert "toxic (decision reject): precision" in err

    bad = write(tmp_path / "bad.csv", ",hate_speech,offensive_language,class,tweet\n0,0,0,7,x y\n")
    code, _, err = run(str(bad))
    assert code == 2 and "row 1 (line 2): label '7' is not one of 0 (hate)" in err


def test_sfu_toxicity_levels_and_jigsaw_toxic_column(tmp_path: Path) -> None:
    sfu = write(
        tmp_path / "sfu.csv",
        "_unit_id,comment,is_toxic_popular_answer_1,is_toxic_popular_answer_2\n"
        '1,"A long, careful comment",1,\n2,Rude words here,2,\n3,Worse words,4,3\n',
    )
    code, out, err = run(str(sfu))
    assert code == 0, err
    assert ids(out) == ["1", "2", "3"]  # a quoted comma and an empty second answer are fine
    rows = matrix(err)
    assert ["2", "mildly", "toxic", "(toxic)"] in [r[:4] for r in rows]
    assert ["4", "very", "toxic", "(toxic)"] in [r[:4] for r in rows]
    assert ["1", "not", "toxic", "(ok)"] in [r[:4] for r in rows]

    jigsaw = write(
        tmp_path / "test_examples.csv",
        "comment_text,toxic,severe_toxic,obscene,threat,insult,identity_hate\n"
        "a calm remark,0,0,0,0,0,0\nan unkind remark,1,0,0,0,1,0\n",
    )
    code, _, err = run(str(jigsaw))
    assert code == 0, err
    assert ["1", "(toxic)"] in [r[:2] for r in matrix(err)]
    assert ["0", "(ok)"] in [r[:2] for r in matrix(err)]


def toxic_spans_folder(folder: Path, *, annotations: bool = True) -> Path:
    folder.mkdir()
    write(folder / "comments.csv", "comment_id,comment_text\n7,Some words\n8,Other words\n")
    if annotations:
        write(
            folder / "annotations.csv",
            "annotation,comment_id,worker,country,all toxic,not toxic\n"
            "a1,7,w1,US,False,False\na2,7,w2,US,False,False\na3,7,w3,US,False,True\n"
            "b1,8,w1,US,False,True\nb2,8,w2,US,False,True\nb3,8,w3,US,False,False\n",
        )
    write(folder / "spans.csv", "annotation,type,start,end\na1,Insult,0,4\na2,Insult,0,4\n")
    return folder


def test_toxic_spans_folder(tmp_path: Path) -> None:
    folder = toxic_spans_folder(tmp_path / "spans")
    code, out, err = run(str(folder))
    assert code == 0, err
    assert ids(out) == ["7", "8"]
    rows = matrix(err)
    assert any(r[:1] == ["toxic"] and r[-1] == "1" for r in rows)
    assert any(r[:1] == ["ok"] and r[-1] == "1" for r in rows)
    code, out, err = run(str(folder), "--format", "toxic-spans")
    assert code == 0 and ids(out) == ["7", "8"]


def test_toxic_spans_folder_missing_annotations_exits_2(tmp_path: Path) -> None:
    folder = toxic_spans_folder(tmp_path / "spans", annotations=False)
    code, out, err = run(str(folder))
    assert code == 2 and out == ""
    assert "not a toxic-spans folder: annotations.csv missing" in err
    code, _, err = run(str(folder), "--format", "csv")
    assert code == 2 and "a folder; --format csv reads a file" in err
    code, _, err = run(str(write(tmp_path / "x.csv", "text\nhi\n")), "--format", "toxic-spans")
    assert code == 2 and "read from a folder" in err


def test_format_override_beats_detection(tmp_path: Path) -> None:
    sms = write(tmp_path / "sms.txt", SMS)
    code, _, err = run(str(sms), "--format", "csv")
    assert code == 2 and "no text column" in err
    jsonl = write(tmp_path / "j.txt", '{"text": "hello there"}\n')
    code, out, err = run(str(jsonl), "--format", "jsonl")
    assert code == 0 and ids(out) == ["1"]
    code, _, err = run(str(jsonl), "--format", "sms")
    assert code == 2 and "expected `ham` or `spam`" in err


def test_limit_stops_early(tmp_path: Path) -> None:
    source = write(tmp_path / "many.csv", "text\n" + "".join(f"words {n}\n" for n in range(9)))
    code, out, err = run(str(source), "--limit", "4")
    assert code == 0, err
    assert ids(out) == ["1", "2", "3", "4"]
    assert "backtest: 4 rows" in err and "stopped at --limit 4" in err
    code, _, err = run(str(source), "--limit", "0")
    assert code == 2


def endless(first: str, line: str) -> Iterator[str]:
    yield first
    while True:
        yield line


def test_csv_sms_and_jsonl_are_streamed() -> None:
    """An endless input yields rows at once: nothing is read ahead of the rows asked for."""
    for stream in (
        endless("id,text,label\n", "1,some words,ham\n"),
        endless("ham\tsome words\n", "spam\tother words\n"),
        endless('{"text": "some words"}\n', '{"text": "other words", "label": 1}\n'),
    ):
        rows = list(itertools.islice(read_input(stream, {}), 50))
        assert len(rows) == 50 and rows[-1].number == 50
