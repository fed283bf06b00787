"""History: each user's wrapped data key, sealed records, day spans and sync cursors.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 12:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_id() -> sa.Column[str]:
    return sa.Column("user_id", sa.String(length=32), nullable=False)


def _to_users(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "history_keys",
        _user_id(),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _to_users("history_keys"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_history_keys")),
    )
    op.create_table(
        "history_records",
        _user_id(),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        _to_users("history_records"),
        sa.PrimaryKeyConstraint(
            "user_id", "provider", "kind", "id_digest", name=op.f("pk_history_records")
        ),
    )
    with op.batch_alter_table("history_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_history_records_day", ["user_id", "provider", "kind", "day"], unique=False
        )
    op.create_table(
        "history_spans",
        _user_id(),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("first", sa.Date(), nullable=False),
        sa.Column("last", sa.Date(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        _to_users("history_spans"),
        sa.PrimaryKeyConstraint(
            "user_id", "provider", "kind", "first", name=op.f("pk_history_spans")
        ),
    )
    op.create_table(
        "history_cursors",
        _user_id(),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        _to_users("history_cursors"),
        sa.PrimaryKeyConstraint("user_id", "provider", "stream", name=op.f("pk_history_cursors")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("history_cursors")
    op.drop_table("history_spans")
    with op.batch_alter_table("history_records", schema=None) as batch_op:
        batch_op.drop_index("ix_history_records_day")
    op.drop_table("history_records")
    op.drop_table("history_keys")
