"""The plan's revision: chat_media.processing_status (indexed), processed_at and metadata.

Revision ID: 0002_media_processing_status
Revises: 0001_baseline
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_media_processing_status"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_media") as batch:
        batch.add_column(sa.Column("processing_status", sa.String(16), nullable=False, server_default="pending"))
        batch.add_column(sa.Column("processed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("metadata", sa.JSON(), nullable=False, server_default="{}"))
        batch.create_index("ix_chat_media_processing_status", ["processing_status"])
    # Media that already had a stored file before this revision is done, not pending.
    op.execute("UPDATE chat_media SET processing_status = 'completed' WHERE path IS NOT NULL AND path != ''")


def downgrade() -> None:
    with op.batch_alter_table("chat_media") as batch:
        batch.drop_index("ix_chat_media_processing_status")
        batch.drop_column("metadata")
        batch.drop_column("processed_at")
        batch.drop_column("processing_status")
