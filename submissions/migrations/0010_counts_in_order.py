"""The daily counts' trigger function on PostgreSQL (migration 0007) takes its rows' locks
in one order, (day, answer, value), in every statement.

Before, each statement upserted its counts in the order its grouping happened to give,
so two statements changing counts of the same day (a purge's batch and a story stored
for a day already counted, or two moderators' bulk decisions) could each hold a row the
other wanted: PostgreSQL found such a deadlock in bench/scale.py's purge beside a
writer, and aborted the purge. In one order, one of them simply waits.
SQLite runs one writer at a time and has nothing to change.
"""

import importlib

from django.db import migrations

scale = importlib.import_module("submissions.migrations.0007_scale")
UNORDERED = scale.POSTGRES_UP.split("CREATE TRIGGER")[0].replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
)
ORDERED = UNORDERED.replace(
    "\n        ON CONFLICT", "\n        ORDER BY 1, 2, 3\n        ON CONFLICT"
)
assert ORDERED.count("ORDER BY 1, 2, 3") == 3


def replace_function(text):
    def run(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT quote_ident(current_schema())")
            schema = cursor.fetchone()[0]
        schema_editor.execute(text.replace("{schema}", schema))

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("submissions", "0009_export_in_time_order"),
    ]

    operations = [
        migrations.RunPython(replace_function(ORDERED), replace_function(UNORDERED)),
    ]
