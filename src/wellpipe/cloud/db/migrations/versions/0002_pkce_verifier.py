"""oauth_states.sealed_verifier: the encrypted PKCE verifier of a provider connect.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_verifier", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    """Downgrade schema (pending connects lose their verifier and must start again)."""
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.drop_column("sealed_verifier")
