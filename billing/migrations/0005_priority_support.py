from django.db import migrations, models

# Every paid plan: the documented Starter plan lists "priority_support" among its features.
PAID = ["starter", "professional", "enterprise"]


def seed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(slug__in=PAID).update(priority_support=True)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_plan_job_caps"),
    ]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="priority_support",
            field=models.BooleanField(default=False, help_text="Support answers this plan's tickets first."),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
