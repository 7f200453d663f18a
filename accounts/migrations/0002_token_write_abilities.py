"""Tokens that could do everything before tokens:write and billing:write existed keep doing everything."""

from django.db import migrations

OLD_ALL = {"images:read", "images:write", "images:delete", "user:read"}
NEW = ["tokens:write", "billing:write"]


def grant(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.filter(revoked_at__isnull=True).only("abilities"):
        if set(token.abilities) >= OLD_ALL:
            token.abilities = sorted(set(token.abilities) | set(NEW))
            token.save(update_fields=["abilities"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
