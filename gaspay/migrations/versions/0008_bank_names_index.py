"""bank names index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

The staff list's bank filter was ``lower(bank_name) LIKE '%…%'`` on every row of the range. The
planner cannot estimate such a pattern: at a million payments it guessed 4 matching rows of
3,624, read the whole week through a bitmap scan and sorted it (39 ms for the page alone,
bench/staff_bench.py). Now the typed text is matched against the tenant's distinct bank names,
read from this index one probe per name, and the list filters with ``bank_name IN (…)``.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME, TABLE = "ix_payment_attempts_tenant_bank", "payment_attempts"


def upgrade():
    op.create_index(NAME, TABLE, ["tenant", "bank_name"])


def downgrade():
    op.drop_index(NAME, table_name=TABLE)
