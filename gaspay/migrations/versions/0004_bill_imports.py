"""bill import runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "bill_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("created_by", sa.String(254)),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("started_at", stamp),
        sa.Column("finished_at", stamp),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("skip_invalid", sa.Boolean(), nullable=False),
        sa.Column("readable", sa.Boolean(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("repeated", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("notices", sa.Text(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.CheckConstraint(
            "status IN ('validated', 'queued', 'running', 'done', 'failed')",
            name="ck_bill_imports_status_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bill_imports"),
    )
    op.create_index("ix_bill_imports_tenant_created", "bill_imports", ["tenant", "created_at"])


def downgrade():
    op.drop_index("ix_bill_imports_tenant_created", table_name="bill_imports")
    op.drop_table("bill_imports")
