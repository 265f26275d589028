"""Plaintext DRF tokens (rest_framework.authtoken, no longer installed) become knox tokens:
the same key keeps working, but only its SHA-512 digest and 15-character lookup prefix are
stored; the plaintext rows are deleted. Read with SQL: the authtoken app is gone."""

from django.db import migrations


def hash_plaintext_tokens(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    conn = schema_editor.connection
    if "authtoken_token" not in conn.introspection.table_names():
        return
    AuthToken = apps.get_model("knox", "AuthToken")
    with conn.cursor() as cur:
        cur.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cur.fetchall()
    for key, user_id, created in rows:
        AuthToken.objects.create(digest=hash_token(key), token_key=key[:CONSTANTS.TOKEN_KEY_LENGTH],
                                 user_id=user_id, expiry=None)
        AuthToken.objects.filter(digest=hash_token(key)).update(created=created)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):

    dependencies = [
        ("containers", "0007_ownership_audit"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop)]
