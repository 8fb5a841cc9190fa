"""learning: training_labels (moderators' and Akismet submitters' judgements, text only),
site_models (one trained model per site and kind) and check_results.shadow

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "label IN ('spam', 'ham', 'abuse')", name=op.f("ck_training_labels_label")
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_training_labels_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_training_labels_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_labels")),
    )
    with op.batch_alter_table("training_labels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_labels_comment_id"), ["comment_id"], unique=False
        )
        batch_op.create_index("ix_training_labels_site_id_id", ["site_id", "id"], unique=False)

    op.create_table(
        "site_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("labels_used", sa.Integer(), nullable=False),
        sa.Column("trained_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.CheckConstraint("kind IN ('spam', 'toxicity')", name=op.f("ck_site_models_kind")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_models_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_models")),
        sa.UniqueConstraint("site_id", "kind", name=op.f("uq_site_models_site_id")),
    )

    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shadow", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.drop_column("shadow")

    op.drop_table("site_models")
    with op.batch_alter_table("training_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_training_labels_site_id_id")
        batch_op.drop_index(batch_op.f("ix_training_labels_comment_id"))

    op.drop_table("training_labels")
