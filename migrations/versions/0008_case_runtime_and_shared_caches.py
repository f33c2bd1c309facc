"""one door for advancing a case: the event chain's tip on the case row, and PostgreSQL triggers
that tell every worker when the cached accounts or forms change

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 01:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Tables whose changes empty a cache in every worker (channel payload: the cache's name).
CACHED_TABLES = {"app_user": "accounts", "api_token": "accounts", "user_department": "accounts",
                 "department": "accounts", "form_version": "forms"}


def upgrade():
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_tip', sa.String(length=64), nullable=True))
    # The newest event's hash of every case, so appending an event no longer reads the chain.
    op.execute("UPDATE service_case SET event_tip = (SELECT e.hash FROM case_event e WHERE e.case_id = service_case.id "
               "ORDER BY e.id DESC LIMIT 1)")
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite runs one process: nothing to tell
    op.execute("""
        CREATE FUNCTION onewindow_cache_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('onewindow_cache', TG_ARGV[0]);
            RETURN NULL;
        END $$""")
    for table, cache in CACHED_TABLES.items():
        op.execute(f"CREATE TRIGGER {table}_cache_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION onewindow_cache_changed('{cache}')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in CACHED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_cache_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS onewindow_cache_changed()")
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_column('event_tip')
