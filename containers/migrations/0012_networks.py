"""User-defined networks (issue 14): Network gets Docker's 64-hex id, labels and a unique
subnet; Membership (a container on a user network, with aliases); Endpoint becomes one row
per (container, network) instead of one per container (rows are copied: running containers
keep their addresses across the upgrade)."""

import secrets

import containers.engine.ids
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def fill_ids(apps, schema_editor):
    Network = apps.get_model("containers", "Network")
    for net in Network.objects.all():
        net.nid = secrets.token_hex(32)
        net.save(update_fields=["nid"])


def copy_endpoints(apps, schema_editor):
    Old = apps.get_model("containers", "Endpoint")
    New = apps.get_model("containers", "NetEndpoint")
    for ep in Old.objects.all():
        New.objects.create(container_id=ep.container_id, network_id=ep.network_id, ip=ep.ip,
                           prefix=ep.prefix, gateway=ep.gateway, mac=ep.mac, veth=ep.veth)


class Migration(migrations.Migration):

    dependencies = [
        ('containers', '0011_volumes'),
    ]

    operations = [
        migrations.AddField(model_name='network', name='nid',
                            field=models.CharField(default='', max_length=64)),
        migrations.RunPython(fill_ids, migrations.RunPython.noop),
        migrations.AlterField(model_name='network', name='nid',
                              field=models.CharField(default=containers.engine.ids.new_id, max_length=64,
                                                     unique=True)),
        migrations.AddField(model_name='network', name='labels', field=models.JSONField(default=dict)),
        migrations.AddConstraint(
            model_name='network',
            constraint=models.UniqueConstraint(fields=('subnet',), name='unique_network_subnet')),
        migrations.CreateModel(
            name='Membership',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('aliases', models.JSONField(default=list)),
                ('created', models.DateTimeField(default=django.utils.timezone.now)),
                ('container', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='containers.container')),
                ('network', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='memberships', to='containers.network')),
            ],
            options={
                'ordering': ['created', 'id'],
                'constraints': [models.UniqueConstraint(fields=('container', 'network'), name='unique_membership')],
            },
        ),
        migrations.CreateModel(
            name='NetEndpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ip', models.GenericIPAddressField(protocol='IPv4')),
                ('prefix', models.IntegerField()),
                ('gateway', models.GenericIPAddressField(protocol='IPv4')),
                ('mac', models.CharField(max_length=17)),
                ('veth', models.CharField(max_length=15, unique=True)),
                ('container', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='endpoints', to='containers.container')),
                ('network', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to='containers.network')),
            ],
            options={
                'ordering': ['id'],
                'constraints': [
                    models.UniqueConstraint(fields=('network', 'ip'), name='unique_endpoint_ip'),
                    models.UniqueConstraint(fields=('container', 'network'), name='unique_endpoint_network'),
                ],
            },
        ),
        migrations.RunPython(copy_endpoints, migrations.RunPython.noop),
        migrations.DeleteModel(name='Endpoint'),
        migrations.RenameModel(old_name='NetEndpoint', new_name='Endpoint'),
    ]
