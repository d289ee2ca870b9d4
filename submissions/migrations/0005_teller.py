"""``Testimony.role`` becomes ``teller``: "role" means only the server's role now."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("submissions", "0004_roles")]

    operations = [
        migrations.RenameField(model_name="testimony", old_name="role", new_name="teller"),
        migrations.AlterField(
            model_name="testimony",
            name="teller",
            field=models.CharField(
                blank=True,
                choices=[
                    ("survivor", "I am the survivor"),
                    ("witness", "I am a witness"),
                    ("relative", "I am a relative or friend"),
                ],
                max_length=10,
            ),
        ),
    ]
