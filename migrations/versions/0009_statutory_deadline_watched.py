"""the statutory deadline watched: an index for the supervision sweep

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 02:50:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_case_statutory_due_at'), ['statutory_due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_case_statutory_due_at'))
