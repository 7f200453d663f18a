"""Tokens that could do everything before webhooks:write existed keep doing everything."""

from django.db import migrations

OLD_ALL = {"images:read", "images:write", "images:delete", "user:read", "tokens:write", "billing:write"}
NEW = "webhooks:write"


def grant(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.filter(revoked_at__isnull=True).only("abilities"):
        if set(token.abilities) >= OLD_ALL:
            token.abilities = sorted({*token.abilities, NEW})
            token.save(update_fields=["abilities"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_user_compat_fields")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
