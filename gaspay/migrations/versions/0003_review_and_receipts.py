"""review flags, receipt access, payer contact origin, bill amount recorded per attempt

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("payment_attempts") as batch:
        batch.add_column(
            sa.Column("payer_email_source", sa.String(10), nullable=False, server_default="payer")
        )
        batch.add_column(sa.Column("stuck_flagged_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("attempt_bills") as batch:
        batch.add_column(sa.Column("bill_amount_cents", sa.BigInteger()))
    op.create_table(
        "payment_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.String(254)),
        sa.Column("resolution", sa.Text()),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["payment_attempts.id"],
            name="fk_payment_reviews_attempt_id_payment_attempts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payment_reviews"),
    )
    op.create_index("ix_payment_reviews_tenant_open", "payment_reviews", ["tenant", "resolved_at"])
    op.create_index("ix_payment_reviews_attempt", "payment_reviews", ["attempt_id"])


def downgrade():
    op.drop_index("ix_payment_reviews_attempt", table_name="payment_reviews")
    op.drop_index("ix_payment_reviews_tenant_open", table_name="payment_reviews")
    op.drop_table("payment_reviews")
    with op.batch_alter_table("attempt_bills") as batch:
        batch.drop_column("bill_amount_cents")
    with op.batch_alter_table("payment_attempts") as batch:
        batch.drop_column("stuck_flagged_at")
        batch.drop_column("payer_email_source")
