"""Training labels: the human judgements the learning classifiers train on.

Two sources write them, each in the transaction of the judgement itself:

- moderators' decisions (core.review): approve or "not spam" → "ham", spam → "spam",
  reject → "abuse"; holding and deleting say nothing about the text, so no label;
- Akismet-style submit-spam / submit-ham calls (api.views.akismet): "spam" / "ham" for a
  text Replyguard never stored (`comment_id` None).

Decisions by the pipeline, the sweeper or the system never become labels: a model must not
learn from its own (or its rules') output.

A label keeps the comment's text as it was when labelled and nothing else about the
commenter. Rows are never updated: a moderator changing their mind writes a new row, and
readers take the newest row per comment (`labels_for_site`); rows without a comment (the
Akismet ones) each count on their own.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from models import CommentStatus, TrainingLabel
from models.label import LABELS

# What a moderator's move to a status says about the text (no entry: says nothing).
LABEL_FOR_STATUS = {
    CommentStatus.APPROVED: "ham",
    CommentStatus.SPAM: "spam",
    CommentStatus.REJECTED: "abuse",
}
MAX_PAGE = 10_000


def label_for_transition(
    from_status: CommentStatus | str, to_status: CommentStatus | str
) -> str | None:
    """The label a moderator's decision `from_status → to_status` gives the comment's text:
    → approved is "ham" (also "not spam", spam → approved), → spam is "spam", → rejected is
    "abuse"; → held or deleted is no label. No change, no label."""
    before, after = CommentStatus(from_status), CommentStatus(to_status)
    if before is after:
        return None
    return LABEL_FOR_STATUS.get(after)


def record_label(
    session: Session,
    *,
    site_id: int,
    body: str,
    label: str,
    source: str,
    comment_id: int | None = None,
) -> TrainingLabel:
    """Append one label (the caller commits). `source` is who judged: "moderator:<id>",
    "token:<id>" or "akismet:token:<id>"."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    row = TrainingLabel(
        site_id=site_id, comment_id=comment_id, label=label, body=body, source=source[:100]
    )
    session.add(row)
    session.flush()
    return row


def _current(site_id: int, since_id: int) -> Select[tuple[TrainingLabel]]:
    """The site's labels after `since_id` that no later label of the same comment replaced."""
    newest = (
        select(func.max(TrainingLabel.id))
        .where(TrainingLabel.site_id == site_id, TrainingLabel.comment_id.is_not(None))
        .group_by(TrainingLabel.comment_id)
    )
    return select(TrainingLabel).where(
        TrainingLabel.site_id == site_id,
        TrainingLabel.id > since_id,
        or_(TrainingLabel.comment_id.is_(None), TrainingLabel.id.in_(newest)),
    )


def labels_for_site(
    session: Session, site_id: int, *, since_id: int = 0, limit: int
) -> list[TrainingLabel]:
    """Up to `limit` of the site's current labels with an id above `since_id`, oldest first
    (page on with the last row's id). A comment labelled several times appears once, with
    its newest label, and only if that label is after `since_id`."""
    limit = max(0, min(limit, MAX_PAGE))
    query = _current(site_id, since_id).order_by(TrainingLabel.id).limit(limit)
    return list(session.scalars(query))


def count_new_labels(session: Session, site_id: int, since_id: int) -> int:
    """How many current labels (as `labels_for_site` counts them) came after `since_id`:
    what a retraining decision compares with its threshold."""
    query = select(func.count()).select_from(_current(site_id, since_id).subquery())
    return int(session.scalar(query) or 0)
