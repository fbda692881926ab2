from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []  # noqa: RUF012 - Django's own layout

    operations = [  # noqa: RUF012
        migrations.CreateModel(
            name="Call",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("event_id", models.CharField(max_length=100, unique=True)),
                ("room", models.CharField(db_index=True, max_length=200)),
                ("caller", models.CharField(max_length=32)),
                ("status", models.CharField(default="ringing", max_length=20)),
                ("transcript", models.TextField(blank=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
