"""Make the audit trail append-only in the database itself, not only in the model.

PostgreSQL refuses UPDATE and DELETE on audit events with a trigger. (TRUNCATE, used
only by test teardown and a deliberate operator, is not a row operation.) SQLite
refuses UPDATE; it keeps DELETE because Django's test flush on SQLite deletes rows.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE FUNCTION submissions_auditevent_refuse() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER submissions_auditevent_append_only
    BEFORE UPDATE OR DELETE ON submissions_auditevent
    FOR EACH ROW EXECUTE FUNCTION submissions_auditevent_refuse();
"""
POSTGRES_DOWN = """
DROP TRIGGER submissions_auditevent_append_only ON submissions_auditevent;
DROP FUNCTION submissions_auditevent_refuse();
"""
SQLITE_UP = """
CREATE TRIGGER submissions_auditevent_append_only
    BEFORE UPDATE ON submissions_auditevent
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
"""
SQLITE_DOWN = "DROP TRIGGER submissions_auditevent_append_only;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_UP)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [("submissions", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
