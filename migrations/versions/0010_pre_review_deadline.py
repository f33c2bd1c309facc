"""the 5-day rule (第32条): an online application's pre-review deadline, and when it was deemed accepted

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 03:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pre_review_days', sa.Integer(), nullable=True))
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pre_review_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deemed_accepted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_service_case_pre_review_due_at'), ['pre_review_due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_case_pre_review_due_at'))
        batch_op.drop_column('deemed_accepted_at')
        batch_op.drop_column('pre_review_due_at')
    with op.batch_alter_table('service_item', schema=None) as batch_op:
        batch_op.drop_column('pre_review_days')
