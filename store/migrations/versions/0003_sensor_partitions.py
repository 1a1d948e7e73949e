"""PostgreSQL only: the monthly partitions of sensor_readings and sensor_hourly (their parents are
created `PARTITION BY RANGE` by 0001, from the models) and the autovacuum settings of the rollup tables.
On SQLite nothing happens (store.partitions does nothing there).

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from store import partitions

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    partitions.setup(op.get_bind())


def downgrade() -> None:
    # The partitions go with their parents (0001's downgrade drops those); the settings with the tables.
    pass
