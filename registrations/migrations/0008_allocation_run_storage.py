"""Allocation run storage (issue 4, a Bochum-size run under 1 s): run outcomes without
database foreign keys and without a separate run_id index (ADR 0009); the input snapshot as
the zlib-compressed bytes of its canonical JSON instead of jsonb (existing snapshots are
converted; their hashes stay valid, as they are over the canonical JSON)."""

import json
import zlib

import django.db.models.deletion
from django.db import migrations, models


def _canonical(document) -> bytes:
    # registrations.allocation_db.canonical_json, frozen here
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def compress_snapshots(apps, schema_editor):
    AllocationRun = apps.get_model("registrations", "AllocationRun")
    runs = AllocationRun.objects.filter(snapshot__isnull=False).only("pk", "snapshot")
    for run in runs.iterator(chunk_size=20):
        AllocationRun.objects.filter(pk=run.pk).update(
            snapshot_gz=zlib.compress(_canonical(run.snapshot), 1)
        )


def expand_snapshots(apps, schema_editor):
    AllocationRun = apps.get_model("registrations", "AllocationRun")
    runs = AllocationRun.objects.filter(snapshot_gz__isnull=False).only("pk", "snapshot_gz")
    for run in runs.iterator(chunk_size=20):
        AllocationRun.objects.filter(pk=run.pk).update(
            snapshot=json.loads(zlib.decompress(run.snapshot_gz))
        )


class Migration(migrations.Migration):

    dependencies = [
        ('registrations', '0007_allocation_family_data'),
    ]

    operations = [
        migrations.AddField(
            model_name="allocationrun",
            name="snapshot_gz",
            field=models.BinaryField(
                blank=True, editable=False, null=True, verbose_name="Eingabe-Schnappschuss (zlib)"
            ),
        ),
        migrations.RunPython(compress_snapshots, expand_snapshots, elidable=True),
        migrations.RemoveField(model_name="allocationrun", name="snapshot"),
        migrations.AlterField(
            model_name='runoutcome',
            name='application',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='outcomes', to='registrations.application'),
        ),
        migrations.AlterField(
            model_name='runoutcome',
            name='child',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='outcomes', to='registrations.child'),
        ),
        migrations.AlterField(
            model_name='runoutcome',
            name='daycare_district',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registrations.district'),
        ),
        migrations.AlterField(
            model_name='runoutcome',
            name='facility',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registrations.facility'),
        ),
        migrations.AlterField(
            model_name='runoutcome',
            name='run',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='outcomes', to='registrations.allocationrun'),
        ),
    ]
