"""Usage figures per tenant for the operator (counts only, read from each tenant's schema)."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone


def _count(schema: str, sql: str, params=()) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            [schema, sql.split('"')[3]],
        )
        if cursor.fetchone() is None:
            return None
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def usage_of(tenant) -> dict[str, int | None]:
    schema = tenant.schema_name
    if tenant.type == "municipality":
        year_start = timezone.now().replace(month=1, day=1, hour=0, minute=0, second=0)
        return {
            "facilities": _count(
                schema, f'SELECT count(*) FROM "{schema}"."registrations_facility"'
            ),
            "applications_this_year": _count(
                schema,
                f'SELECT count(*) FROM "{schema}"."registrations_application" '
                "WHERE created_at >= %s",
                [year_start],
            ),
        }
    if tenant.type == "employer":
        reserved = None
        try:
            from employer_quota.agreements.models import AgreementVersion

            reserved = sum(
                AgreementVersion.objects.filter(
                    agreement__employer_id=tenant.pk, state="confirmed"
                ).values_list("places", flat=True)
            )
        except ImportError:
            pass
        return {
            "reserved_places": reserved,
            "survey_answers": _count(
                schema, f'SELECT count(*) FROM "{schema}"."employer_quota_response"'
            ),
        }
    return {}
