"""Scale (issue 14): indexes for the lists, the queue and the export, and daily counts
for statistics, kept by the database itself.

Statistics read DailyCount for the days that have ended (``DailyCount.objects.roll_up``
counts each day once). Triggers then keep those counts as stories are decided,
deleted, purged, withdrawn or (rarely) stored for a day already counted, whichever door
the change comes through: the panel, the intake's withdrawal or a shell. On PostgreSQL
they run once per statement over its changed rows (transition tables), as the table's
owner (SECURITY DEFINER), so the intake role needs no grant on the counts. Of the
counted answers only the status ever changes once a story is stored.
"""

from django.db import migrations, models

# On PostgreSQL: {schema} is the migration's current schema; the functions run with an
# empty search path.
POSTGRES_UP = """
CREATE FUNCTION {schema}.submissions_count_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    through date := (SELECT day FROM {schema}.submissions_countedthrough WHERE id = 1);
BEGIN
    IF through IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO {schema}.submissions_dailycount AS c (day, answer, value, count)
        SELECT day, 'status', value, sum(change) FROM (
            SELECT o.received_on AS day, o.status AS value, -1 AS change
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.status <> n.status AND o.received_on <= through
            UNION ALL
            SELECT n.received_on, n.status, 1
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.status <> n.status AND n.received_on <= through
        ) changes GROUP BY day, value
        ON CONFLICT (day, answer, value) DO UPDATE SET count = c.count + excluded.count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {schema}.submissions_dailycount AS c (day, answer, value, count)
        SELECT o.received_on, a.answer, a.value, -count(*)
        FROM old_rows o CROSS JOIN LATERAL (VALUES
            ('status', o.status), ('language', o.language),
            ('forms_of_violence', o.forms_of_violence), ('age_group', o.age_group),
            ('region', o.region)) a (answer, value)
        WHERE o.received_on <= through
        GROUP BY 1, 2, 3
        ON CONFLICT (day, answer, value) DO UPDATE SET count = c.count + excluded.count;
    ELSE
        INSERT INTO {schema}.submissions_dailycount AS c (day, answer, value, count)
        SELECT n.received_on, a.answer, a.value, count(*)
        FROM new_rows n CROSS JOIN LATERAL (VALUES
            ('status', n.status), ('language', n.language),
            ('forms_of_violence', n.forms_of_violence), ('age_group', n.age_group),
            ('region', n.region)) a (answer, value)
        WHERE n.received_on <= through
        GROUP BY 1, 2, 3
        ON CONFLICT (day, answer, value) DO UPDATE SET count = c.count + excluded.count;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER submissions_count_insert AFTER INSERT ON {schema}.submissions_testimony
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.submissions_count_change();
CREATE TRIGGER submissions_count_update AFTER UPDATE ON {schema}.submissions_testimony
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.submissions_count_change();
CREATE TRIGGER submissions_count_delete AFTER DELETE ON {schema}.submissions_testimony
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.submissions_count_change();
"""
POSTGRES_DOWN = """
DROP TRIGGER submissions_count_insert ON submissions_testimony;
DROP TRIGGER submissions_count_update ON submissions_testimony;
DROP TRIGGER submissions_count_delete ON submissions_testimony;
DROP FUNCTION submissions_count_change();
"""


def sqlite_counts(row: str, change: int) -> str:
    """An upsert that adds ``change`` to the counts of each counted answer of ``row``
    (NEW or OLD)."""
    values = ", ".join(
        f"({row}.received_on, '{answer}', {row}.{answer}, {change})"
        for answer in ("status", "language", "forms_of_violence", "age_group", "region")
    )
    return (
        f'INSERT INTO submissions_dailycount (day, answer, value, "count") VALUES {values} '
        'ON CONFLICT (day, answer, value) DO UPDATE SET "count" = "count" + excluded."count";'
    )


COUNTED = "(SELECT day FROM submissions_countedthrough WHERE id = 1)"
SQLITE_UP = [
    f"""CREATE TRIGGER submissions_count_insert AFTER INSERT ON submissions_testimony
    WHEN NEW.received_on <= {COUNTED} BEGIN {sqlite_counts("NEW", 1)} END""",
    f"""CREATE TRIGGER submissions_count_delete AFTER DELETE ON submissions_testimony
    WHEN OLD.received_on <= {COUNTED} BEGIN {sqlite_counts("OLD", -1)} END""",
    f"""CREATE TRIGGER submissions_count_update AFTER UPDATE OF status ON submissions_testimony
    WHEN OLD.status <> NEW.status AND OLD.received_on <= {COUNTED} BEGIN
    INSERT INTO submissions_dailycount (day, answer, value, "count") VALUES
        (OLD.received_on, 'status', OLD.status, -1), (NEW.received_on, 'status', NEW.status, 1)
    ON CONFLICT (day, answer, value) DO UPDATE SET "count" = "count" + excluded."count"; END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER submissions_count_insert",
    "DROP TRIGGER submissions_count_delete",
    "DROP TRIGGER submissions_count_update",
]


def forwards(apps, schema_editor):
    apps.get_model("submissions", "CountedThrough").objects.using(
        schema_editor.connection.alias
    ).create(pk=1, day=None)
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT quote_ident(current_schema())")
            schema = cursor.fetchone()[0]
        schema_editor.execute(POSTGRES_UP.replace("{schema}", schema))
    elif connection.vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('submissions', '0006_account_audit'),
    ]

    operations = [
        migrations.CreateModel(
            name='CountedThrough',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(null=True)),
            ],
        ),
        migrations.CreateModel(
            name='DailyCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('answer', models.CharField(max_length=20)),
                ('value', models.CharField(max_length=200)),
                ('count', models.IntegerField()),
            ],
        ),
        migrations.RemoveIndex(
            model_name='testimony',
            name='submissions_status_718ba9_idx',
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['at', 'id'], name='audit_by_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['action', 'at', 'id'], name='audit_by_action'),
        ),
        migrations.AddIndex(
            model_name='testimony',
            index=models.Index(fields=['received_on', 'id'], name='testimony_by_day'),
        ),
        migrations.AddIndex(
            model_name='testimony',
            index=models.Index(fields=['status', 'received_on', 'id'], name='testimony_by_status'),
        ),
        migrations.AddIndex(
            model_name='testimony',
            index=models.Index(condition=models.Q(('status', 'new')), fields=['received_on', 'id', 'language', 'consent', 'forms_of_violence'], name='testimony_queue'),
        ),
        migrations.AddIndex(
            model_name='testimony',
            index=models.Index(condition=models.Q(models.Q(('consent', 'statistics'), ('sealed_campaign_text__isnull', False), _connector='OR'), ('consent__in', ['quote', 'statistics']), ('status', 'approved')), fields=['id', 'received_on', 'language', 'forms_of_violence', 'age_group', 'region', 'teller', 'consent'], name='testimony_exportable'),
        ),
        migrations.AddConstraint(
            model_name='dailycount',
            constraint=models.UniqueConstraint(fields=('day', 'answer', 'value'), name='daily_count_unique'),
        ),
        migrations.RunPython(forwards, backwards),
    ]
