"""`replyguard train`: fit the spam and toxicity models from labelled files."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.group()
def train() -> None:
    """Train classifiers from labelled CSV files (see docs/classifiers.md).

    \b
    Files: CSV with a header, the text in text|comment|content|comment_text|tweet and
    the label in label|class|spam|toxic (1/0, spam/ham, toxic/ok, true/false); also the
    UCI SMS Spam Collection and the Civil Comments toxic-spans folder as they come.
    """


@train.command("model")
@click.argument("kind", type=click.Choice(["spam", "toxicity"]))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the model (.npz).",
)
@click.option("--c", "c", default=10.0, show_default=True, help="Inverse regularisation.")
@click.option("--balanced", is_flag=True, help="Weight classes inversely to their size.")
def train_model(
    kind: str, inputs: tuple[Path, ...], output: Path, c: float, balanced: bool
) -> None:
    """Train one KIND model from INPUTS and write it to --output."""
    from core.classify.datasets import DatasetError, read_examples
    from core.classify.train import fit

    started = time.perf_counter()
    try:
        examples = [example for path in inputs for example in read_examples(path)]
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    positives = sum(e.label for e in examples)
    click.echo(f"{len(examples)} examples, {positives} positive", err=True)
    try:
        model = fit(
            [e.text for e in examples],
            [e.label for e in examples],
            kind=kind,
            c=c,
            class_weight="balanced" if balanced else None,
            meta={"sources": [p.name for p in inputs], "c": c},
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    model.save(output)
    click.echo(
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.0f} s",
        err=True,
    )


@train.command("defaults")
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The shared labelled-data folder (youtube-spam/, sms-spam/, ...).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for spam.npz, toxicity.npz, toxic_spans.npz [default: the package's].",
)
def train_defaults_command(data: Path, output: Path | None) -> None:
    """Re-make the shipped default models from the public labelled sets."""
    from core.classify import registry
    from core.classify.datasets import DatasetError
    from core.classify.defaults import train_defaults

    target = output or registry.MODEL_DIR
    started = time.perf_counter()
    try:
        models = train_defaults(
            data, progress=lambda step: click.echo(f"training {step}", err=True)
        )
    except DatasetError as exc:
        raise click.UsageError(str(exc)) from exc
    models.spam.save(target / registry.SPAM_FILE)
    models.toxicity.save(target / registry.TOXICITY_FILE)
    models.spans.save(target / registry.SPANS_FILE)
    for name in (registry.SPAM_FILE, registry.TOXICITY_FILE, registry.SPANS_FILE):
        click.echo(
            f"wrote {target / name} ({(target / name).stat().st_size / 1e6:.2f} MB)", err=True
        )
    click.echo(f"done in {time.perf_counter() - started:.0f} s", err=True)
