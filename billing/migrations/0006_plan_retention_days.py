from django.db import migrations, models

# Days an image's files are kept, per plan (admin-editable afterwards).
RETENTION_DAYS = {"free": 1, "starter": 7, "professional": 30, "enterprise": 90}


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for slug, days in RETENTION_DAYS.items():
        Plan.objects.filter(slug=slug).update(retention_days=days)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_priority_support"),
    ]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="retention_days",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text="Days an image's files are kept after it finished; then it expires and they are deleted.",
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
