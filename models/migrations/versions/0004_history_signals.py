"""history signals: comments.simhash and its four 16-bit bands (near-duplicates), and
indexes for per-site rate counts, same-text and per-band lookups

Existing rows keep a NULL fingerprint: they are still found by their exact body hash.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BANDS = ("simhash_b0", "simhash_b1", "simhash_b2", "simhash_b3")


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("simhash", sa.BigInteger(), nullable=True))
        for band in BANDS:
            batch_op.add_column(sa.Column(band, sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_comments_site_submitted", ["site_id", "submitted_at"], unique=False
        )
        batch_op.create_index(
            "ix_comments_site_body_hash", ["site_id", "body_hash", "submitted_at"], unique=False
        )
        for band in BANDS:
            batch_op.create_index(
                f"ix_comments_site_{band}", ["site_id", band, "submitted_at"], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        for band in BANDS:
            batch_op.drop_index(f"ix_comments_site_{band}")
        batch_op.drop_index("ix_comments_site_body_hash")
        batch_op.drop_index("ix_comments_site_submitted")
        for band in reversed(BANDS):
            batch_op.drop_column(band)
        batch_op.drop_column("simhash")
