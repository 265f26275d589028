"""Restart policies (issue 14): a user's stop, the next policy restart, the back-off in
force and the reason of the last exit, kept on the container's record."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("containers", "0009_event_time"),
    ]

    operations = [
        migrations.AddField(
            model_name="container", name="stopped_by",
            field=models.CharField(blank=True, default="", max_length=8),
        ),
        migrations.AddField(
            model_name="container", name="restart_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="container", name="restart_delay_ms",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="container", name="exit_reason",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
    ]
