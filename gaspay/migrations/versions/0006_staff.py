"""staff area

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Staff users (their own accounts, per tenant), their notes and audit log, and the indexes the
staff area's payments list, search and exports need at a million payments.
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    (
        "ix_payment_attempts_tenant_created",
        "payment_attempts",
        ["tenant", "created_at", "id", "status", "amount_cents"],
    ),
    (
        "ix_payment_attempts_tenant_status_created",
        "payment_attempts",
        ["tenant", "status", "created_at", "id", "amount_cents"],
    ),
    ("ix_payment_attempts_tenant_status_final", "payment_attempts", ["tenant", "status", "finalized_at"]),
    ("ix_payment_attempts_tenant_cus", "payment_attempts", ["tenant", "cus"]),
    ("ix_payment_attempts_tenant_document", "payment_attempts", ["tenant", "document_number"]),
    ("ix_payment_attempts_tenant_email", "payment_attempts", ["tenant", "payer_email"]),
    ("ix_attempt_bills_bill", "attempt_bills", ["bill_id"]),
    ("ix_gateway_events_tenant_reference", "gateway_events", ["tenant", "reference"]),
    ("ix_gateway_events_tenant_txn", "gateway_events", ["tenant", "gateway_txn_id"]),
)


def upgrade():
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("full_name", sa.String(160), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("totp_secret", sa.String(64)),
        sa.Column("totp_pending", sa.String(64)),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("session_token", sa.String(64), nullable=False),
        sa.Column("enrol_token_hash", sa.String(64)),
        sa.Column("enrol_expires_at", sa.DateTime(timezone=True)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.Column("previous_login_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'operador', 'consulta')", name="ck_staff_users_role_known"
        ),
        sa.CheckConstraint("failed_logins >= 0", name="ck_staff_users_failed_logins_positive"),
        sa.PrimaryKeyConstraint("id", name="pk_staff_users"),
        sa.UniqueConstraint("tenant", "email", name="uq_staff_users_tenant_email"),
        sa.UniqueConstraint("enrol_token_hash", name="uq_staff_users_enrol_token_hash"),
    )
    op.create_table(
        "staff_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(120), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ip", sa.String(45)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff_audit"),
    )
    op.create_index("ix_staff_audit_tenant_id", "staff_audit", ["tenant", "id"])
    op.create_table(
        "staff_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(254), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["payment_attempts.id"],
            name="fk_staff_notes_attempt_id_payment_attempts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_notes"),
    )
    op.create_index("ix_staff_notes_attempt", "staff_notes", ["attempt_id"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_staff_notes_attempt", table_name="staff_notes")
    op.drop_table("staff_notes")
    op.drop_index("ix_staff_audit_tenant_id", table_name="staff_audit")
    op.drop_table("staff_audit")
    op.drop_table("staff_users")
