# Column sizes that hold every value the validation accepts (a longer value would be a 500 on
# PostgreSQL): container names up to 255 characters (engine.ids.NAME_MAX), image references
# with tag and digest (512), event actor names such as repository:tag.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('containers', '0005_repo_digests'),
    ]

    operations = [
        migrations.AlterField(
            model_name='container',
            name='name',
            field=models.CharField(max_length=255, unique=True),
        ),
        migrations.AlterField(
            model_name='container',
            name='image_ref',
            field=models.CharField(max_length=512),
        ),
        migrations.AlterField(
            model_name='event',
            name='actor_name',
            field=models.CharField(blank=True, default='', max_length=512),
        ),
    ]
