"""transactional outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(40), nullable=False),
        sa.Column("tenant", sa.String(32)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("topic", sa.String(60), nullable=False),
        sa.Column("destination", sa.String(500), nullable=False),
        sa.Column("subject_type", sa.String(30)),
        sa.Column("subject_id", sa.BigInteger()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", stamp),
        sa.Column("lease_until", stamp),
        sa.Column("claimed_by", sa.String(80)),
        sa.Column("last_error", sa.String(255)),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("delivered_at", stamp),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'disabled')",
            name="ck_outbox_messages_status_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_messages"),
        sa.UniqueConstraint("uid", name="uq_outbox_messages_uid"),
    )
    op.create_index("ix_outbox_messages_due", "outbox_messages", ["status", "next_attempt_at"])
    op.create_index(
        "ix_outbox_messages_subject", "outbox_messages", ["tenant", "subject_type", "subject_id"]
    )
    op.create_index(
        "ix_outbox_messages_tenant_created", "outbox_messages", ["tenant", "created_at"]
    )
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(32)),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(80), nullable=False),
        sa.Column("started_at", stamp, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.String(255)),
        sa.Column("next_attempt_at", stamp),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbox_messages.id"],
            name="fk_outbox_deliveries_message_id_outbox_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_deliveries"),
    )
    op.create_index(
        "ix_outbox_deliveries_message_id", "outbox_deliveries", ["message_id"]
    )
    op.create_table(
        "outbox_disabled_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("disabled_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_disabled_endpoints"),
        sa.UniqueConstraint("tenant", "url", name="uq_outbox_disabled_endpoints_url"),
    )


def downgrade():
    op.drop_table("outbox_disabled_endpoints")
    op.drop_index("ix_outbox_deliveries_message_id", table_name="outbox_deliveries")
    op.drop_table("outbox_deliveries")
    op.drop_index("ix_outbox_messages_tenant_created", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_subject", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_due", table_name="outbox_messages")
    op.drop_table("outbox_messages")
