from django.db import migrations

PLANS = [
    # code, tenant type, basis, up to, € per month (net)
    ("kommune-s", "municipality", "facilities", 25, 29000),
    ("kommune-m", "municipality", "facilities", 100, 69000),
    ("kommune-l", "municipality", "facilities", 250, 129000),
    ("kommune-xl", "municipality", "facilities", None, 199000),
    ("arbeitgeber-250", "employer", "employees", 250, 4900),
    ("arbeitgeber-1000", "employer", "employees", 1000, 12900),
    ("arbeitgeber-5000", "employer", "employees", 5000, 24900),
    ("belegplaetze-10", "employer", "reserved_places", 10, 7900),
    ("belegplaetze-50", "employer", "reserved_places", 50, 19900),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for position, (code, tenant_type, basis, up_to, cents) in enumerate(PLANS):
        Plan.objects.update_or_create(
            code=code,
            defaults={
                "tenant_type": tenant_type,
                "basis": basis,
                "up_to": up_to,
                "monthly_price_cents": cents,
                "trial_days": 30,
                "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
