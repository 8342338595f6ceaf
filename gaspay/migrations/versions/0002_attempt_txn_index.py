"""index attempts by (tenant, gateway transaction id) for events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Events find their attempt by tenant and transaction id; the unique constraint on
(tenant, gateway, gateway_txn_id) cannot serve that lookup.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_payment_attempts_tenant_txn", "payment_attempts", ["tenant", "gateway_txn_id"]
    )


def downgrade():
    op.drop_index("ix_payment_attempts_tenant_txn", table_name="payment_attempts")
