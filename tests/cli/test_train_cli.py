"""`replyguard train model`: a model from small labelled files written here, which loads and
scores; bad inputs end with exit code 2 and say what is wrong. In process with CliRunner
and once as a real subprocess."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.classify.features import FEATURE_VERSION, count_matrix, normalized
from core.classify.linear import LinearModel
from tests.support.devstack_proc import replyguard_executable

SPAM = [
    "Check out my channel and subscribe for daily videos",
    "Subscribe to my channel, new music every week",
    "Free gift cards, click the link in my profile",
    "Earn money from home, visit my page now",
    "Please subscribe and like, I upload every day",
    "Win a free phone, click here to claim your prize",
    "Follow me for free followers, link in bio",
    "Visit my channel for the best cover songs",
]
HAM = [
    "The council vote was closer than the article suggests",
    "Thanks for the detailed report on the flood relief",
    "I disagree with the mayor but this is fair reporting",
    "Where can I read the full proposal mentioned here",
    "Good piece, though the headline overstates it",
    "The new bus routes leave out my neighbourhood again",
    "Interesting interview, I hope there is a follow-up",
    "The budget figures should be published before the vote",
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["train", *args])
    return result.exit_code, result.stdout, result.stderr


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def labelled(path: Path, header: tuple[str, str] = ("text", "label")) -> Path:
    rows = [(text, "spam") for text in SPAM] + [(text, "ham") for text in HAM]
    return write_csv(path, rows, header)


def scores(model: LinearModel, texts: list[str]) -> list[float]:
    return [float(p) for p in model.probabilities(count_matrix(normalized(texts)))]


def test_train_a_spam_model_from_a_csv(tmp_path: Path) -> None:
    source = labelled(tmp_path / "mine.csv")
    output = tmp_path / "out" / "spam.npz"
    code, _, err = run("model", "spam", str(source), "-o", str(output))
    assert code == 0, err
    assert "16 examples, 8 positive" in err
    assert f"wrote {output}" in err
    model = LinearModel.load(output)
    assert model.kind == "spam"
    assert model.meta["sources"] == ["mine.csv"]
    assert model.meta["features"] == FEATURE_VERSION
    assert model.meta["examples"] == 16
    spam, ham = scores(model, ["subscribe to my channel for free", "the council vote report"])
    assert spam > 0.5 > ham


def test_train_from_several_files_and_other_column_names(tmp_path: Path) -> None:
    youtube_like = write_csv(
        tmp_path / "yt.csv",
        [(t, "1") for t in SPAM] + [(t, "0") for t in HAM],
        ("CONTENT", "CLASS"),
    )
    sms = tmp_path / "sms.txt"
    sms.write_text(
        "".join(f"spam\t{t}\n" for t in SPAM) + "".join(f"ham\t{t}\n" for t in HAM),
        encoding="utf-8",
    )
    output = tmp_path / "toxicity.npz"
    code, _, err = run(
        "model", "toxicity", str(youtube_like), str(sms), "-o", str(output), "--c", "2"
    )
    assert code == 0, err
    assert "32 examples, 16 positive" in err
    model = LinearModel.load(output)
    assert model.kind == "toxicity"
    assert model.meta["sources"] == ["yt.csv", "sms.txt"]
    assert model.meta["c"] == 2.0


def test_train_an_sms_collection_file(tmp_path: Path) -> None:
    sms = tmp_path / "SMSSpamCollection"
    sms.write_text(
        "".join(f"spam\t{t}\n" for t in SPAM) + "".join(f"ham\t{t}\n" for t in HAM),
        encoding="utf-8",
    )
    output = tmp_path / "sms.npz"
    code, _, err = run("model", "spam", str(sms), "-o", str(output), "--balanced")
    assert code == 0, err
    spam, ham = scores(LinearModel.load(output), ["win a free prize, click here", "fair report"])
    assert spam > 0.5 > ham


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("message,verdict\nhello,spam\n", "needs a text column"),
        ("text,label\nhello there,maybe\n", "label 'maybe' is neither positive nor negative"),
        ("text,label\nbuy now,spam\nclick here,spam\n", "both positive and negative"),
        ("text,label\n", "both positive and negative"),
    ],
    ids=["no-label-column", "unknown-label", "one-class", "no-rows"],
)
def test_bad_input_exits_2_and_says_why(tmp_path: Path, content: str, message: str) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(content, encoding="utf-8")
    output = tmp_path / "never.npz"
    code, _, err = run("model", "spam", str(source), "-o", str(output))
    assert code == 2
    assert message in err
    assert not output.exists()


def test_missing_file_unknown_kind_and_non_utf8(tmp_path: Path) -> None:
    code, _, err = run("model", "spam", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "x"))
    assert code == 2
    assert "does not exist" in err
    source = labelled(tmp_path / "ok.csv")
    code, _, err = run("model", "links", str(source), "-o", str(tmp_path / "x"))
    assert code == 2
    assert "'links' is not one of 'spam', 'toxicity'" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9 ouvert,ham\n".encode("latin-1"))
    code, _, err = run("model", "spam", str(latin), "-o", str(tmp_path / "x"))
    assert code == 2
    assert "not UTF-8" in err
    code, _, err = run("model", "spam", str(source))
    assert code == 2
    assert "Missing option '--output'" in err


def test_train_help_describes_the_inputs() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "Train classifiers from labelled CSV files" in out
    assert "text|comment|content|comment_text|tweet" in out
    assert "SMS Spam Collection" in out
    assert "model" in out and "defaults" in out
    code, out, _ = run("defaults", "--help")
    assert code == 0
    assert "--data" in out
    code, out, _ = run("model", "--help")
    assert code == 0
    assert "{spam|toxicity}" in out
    assert "--balanced" in out


def test_real_subprocess(tmp_path: Path) -> None:
    source = labelled(tmp_path / "mine.csv", ("comment", "is_spam"))
    output = tmp_path / "spam.npz"
    done = subprocess.run(
        [str(replyguard_executable()), "train", "model", "spam", str(source), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "16 examples, 8 positive" in done.stderr
    assert LinearModel.load(output).kind == "spam"
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nno labels here\n", encoding="utf-8")
    failed = subprocess.run(
        [str(replyguard_executable()), "train", "model", "spam", str(bad), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 2
    assert "needs a text column" in failed.stderr
    assert "Traceback" not in failed.stderr
