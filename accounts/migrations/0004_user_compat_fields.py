"""The profile fields clients of the documented API expect: email_verified_at, updated_at, 255-character names."""

import django.utils.timezone
from django.db import migrations, models


def backfill_verified_at(apps, schema_editor):
    """Users whose address is verified already: the best known time is when they joined."""
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    verified = EmailAddress.objects.filter(verified=True, primary=True).values_list("user_id", flat=True)
    for user in User.objects.filter(pk__in=verified, email_verified_at__isnull=True):
        user.email_verified_at = user.date_joined
        user.save(update_fields=["email_verified_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_invitation_sent_and_cancelled"),
        ("account", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(model_name="user", name="name", field=models.CharField(blank=True, max_length=255)),
        migrations.AddField(
            model_name="user",
            name="email_verified_at",
            field=models.DateTimeField(
                blank=True, help_text="When the current address was verified (accounts.signals).", null=True
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.RunPython(backfill_verified_at, migrations.RunPython.noop),
    ]
