"""Record which model actually ran ('auto' resolves to one) and the self-ensemble option."""

from django.db import migrations, models
from django.db.models import F


def copy_model(apps, schema_editor):
    apps.get_model("images", "Image").objects.update(model_used=F("model"))


class Migration(migrations.Migration):
    dependencies = [("images", "0002_stall_sweep_schedule")]

    operations = [
        migrations.AlterField(
            model_name="image",
            name="model",
            field=models.CharField(help_text="The model asked for; may be 'auto'.", max_length=32),
        ),
        migrations.AddField(
            model_name="image",
            name="model_used",
            field=models.CharField(default="", help_text="The model that runs: 'auto' resolved.", max_length=32),
            preserve_default=False,
        ),
        migrations.RunPython(copy_model, migrations.RunPython.noop),
        migrations.AddField(
            model_name="image",
            name="model_reason",
            field=models.CharField(blank=True, help_text="Why 'auto' chose model_used.", max_length=200),
        ),
        migrations.AddField(
            model_name="image",
            name="max_quality",
            field=models.BooleanField(default=False, help_text="Geometric self-ensemble (precise only)."),
        ),
        migrations.AlterField(
            model_name="image",
            name="scale_chain",
            field=models.JSONField(blank=True, default=list, help_text="Native network scales, in order."),
        ),
    ]
