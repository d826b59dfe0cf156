"""The plan's revision, kept as head so that one rollback takes exactly it off.

chat_media.processing_status (pending/processing/completed/failed, indexed), processed_at and metadata.

Revision ID: 0003_media_processing_status
Revises: 0002_contact_last_read
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_media_processing_status"
down_revision: str | None = "0002_contact_last_read"
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
