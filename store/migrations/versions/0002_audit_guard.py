"""audit_log is append-only: database triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).

Revision ID: 0002
Revises: 0001
"""
from alembic import op

from auth.audit_guard import install_audit_guard, remove_audit_guard

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    install_audit_guard(op.get_bind())


def downgrade() -> None:
    remove_audit_guard(op.get_bind())
