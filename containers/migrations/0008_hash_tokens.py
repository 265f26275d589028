"""Plaintext DRF tokens (rest_framework.authtoken, no longer installed) become knox tokens:
the same key keeps working, but only its SHA-512 digest and 15-character lookup prefix are
stored; the plaintext rows are deleted. Read with SQL: the authtoken app is gone.

On SQLite the rows are deleted with `secure_delete` (their bytes zeroed, not left in free
pages) and the write-ahead log is checkpointed, so no copy of a key is left in the files.
(PostgreSQL keeps dead tuples until its VACUUM: run `VACUUM FULL authtoken_token` there.)"""

from django.db import migrations, transaction


def hash_plaintext_tokens(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    conn = schema_editor.connection
    if "authtoken_token" not in conn.introspection.table_names():
        return
    AuthToken = apps.get_model("knox", "AuthToken")
    sqlite = conn.vendor == "sqlite"
    with transaction.atomic(using=conn.alias):
        with conn.cursor() as cur:
            cur.execute("SELECT key, user_id, created FROM authtoken_token")
            rows = cur.fetchall()
        for key, user_id, created in rows:
            digest = hash_token(key)
            AuthToken.objects.create(digest=digest, token_key=key[:CONSTANTS.TOKEN_KEY_LENGTH],
                                     user_id=user_id, expiry=None)
            AuthToken.objects.filter(digest=digest).update(created=created)
        with conn.cursor() as cur:
            if sqlite:
                cur.execute("PRAGMA secure_delete = ON")
            cur.execute("DELETE FROM authtoken_token")
    if sqlite and rows:
        with conn.cursor() as cur:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class Migration(migrations.Migration):

    atomic = False  # the SQLite checkpoint runs after the transaction committed

    dependencies = [
        ("containers", "0007_ownership_audit"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop)]
