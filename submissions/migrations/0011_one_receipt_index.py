"""The receipt digest keeps one index, its unique one.

``unique=True`` on a CharField makes Django add, on PostgreSQL, a second index with
``varchar_pattern_ops`` for LIKE lookups. Nothing looks a digest up by pattern (a
withdrawal looks it up exactly), yet every stored story paid to insert a random 64-byte
key into both. The field is now unique by a named constraint, which has no such twin.
On PostgreSQL the existing unique constraint is renamed and the twin dropped, so that no
index is rebuilt on a large table; SQLite never had the twin, and its column keeps its
unique flag, which enforces the same.
"""

from django.db import migrations, models

NAME = "testimony_receipt_digest"


def catalogued(cursor):
    """The unique constraint on receipt_digest and its pattern-matching twin, by name."""
    cursor.execute(
        """
        SELECT c.conname FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.conrelid = 'submissions_testimony'::regclass AND c.contype = 'u'
          AND a.attname = 'receipt_digest' AND cardinality(c.conkey) = 1
        """
    )
    unique = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        """
        SELECT indexname FROM pg_indexes
        WHERE tablename = 'submissions_testimony'
          AND indexdef LIKE '%(receipt_digest varchar_pattern_ops)'
        """
    )
    twins = [row[0] for row in cursor.fetchall()]
    return unique, twins


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        unique, twins = catalogued(cursor)
    for twin in twins:
        schema_editor.execute(f"DROP INDEX {quote(twin)}")
    for name in unique:
        if name != NAME:
            schema_editor.execute(
                f"ALTER TABLE submissions_testimony RENAME CONSTRAINT {quote(name)} TO {NAME}"
            )


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE submissions_testimony RENAME CONSTRAINT {NAME} "
        "TO submissions_testimony_receipt_digest_key"
    )
    schema_editor.execute(
        "CREATE INDEX submissions_testimony_receipt_digest_6cd244cb_like "
        "ON submissions_testimony (receipt_digest varchar_pattern_ops)"
    )


class Migration(migrations.Migration):

    dependencies = [
        ("submissions", "0010_counts_in_order"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="testimony",
                    name="receipt_digest",
                    field=models.CharField(blank=True, editable=False, max_length=64, null=True),
                ),
                migrations.AddConstraint(
                    model_name="testimony",
                    constraint=models.UniqueConstraint(fields=("receipt_digest",), name=NAME),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
