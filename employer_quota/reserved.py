"""The employer's view of its reserved places: dashboard rows, exports and statements.

Reads only the public schema (agreements, claims, releases, code counts): counts and money.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import Agreement, kita_year_of


@dataclass
class DashboardRow:
    agreement: Agreement
    municipality: str
    facility: str
    age_group: str
    care_hours: int
    reserved: int
    used: int
    free: int
    released: int
    monthly_fee: Decimal
    release_date: date | None

    @property
    def monthly_cost(self) -> Decimal:
        return (self.reserved - self.released) * self.monthly_fee


def dashboard_rows(employer, kita_year: int | None = None) -> list[DashboardRow]:
    kita_year = kita_year if kita_year is not None else agreements.current_kita_year()
    rows = []
    for agreement in agreements.active_agreements(employer=employer).order_by(
        "municipality__name", "facility_name", "pk"
    ):
        version = agreement.current
        if kita_year not in version.kita_years():
            continue
        state = agreements.occupancy(agreement, kita_year)
        rows.append(
            DashboardRow(
                agreement=agreement,
                municipality=agreement.municipality.name,
                facility=agreement.facility_name,
                age_group=version.get_age_group_display(),
                care_hours=version.care_hours,
                reserved=state.reserved,
                used=state.used,
                free=state.free,
                released=state.released,
                monthly_fee=version.monthly_fee,
                release_date=version.release_date(kita_year),
            )
        )
    return rows


def totals(rows: list[DashboardRow]) -> dict:
    return {
        "reserved": sum(r.reserved for r in rows),
        "used": sum(r.used for r in rows),
        "free": sum(r.free for r in rows),
        "released": sum(r.released for r in rows),
        "monthly_cost": sum((r.monthly_cost for r in rows), Decimal("0")),
    }


EXPORT_HEADER = [
    "Kommune",
    "Kita",
    "Altersgruppe",
    "Stunden",
    "reserviert",
    "belegt/beansprucht",
    "frei",
    "freigegeben",
    "Stichtag Freigabe",
    "Entgelt je Platz (EUR)",
    "Monatskosten (EUR)",
]


def export_table(rows: list[DashboardRow]) -> list[list]:
    return [
        [
            r.municipality,
            r.facility,
            str(r.age_group),
            r.care_hours,
            r.reserved,
            r.used,
            r.free,
            r.released,
            r.release_date.isoformat() if r.release_date else "",
            r.monthly_fee,
            r.monthly_cost,
        ]
        for r in rows
    ]


@dataclass
class Statement:
    agreement: Agreement
    year: int
    month: int
    places: int
    released: int
    billable: int
    used: int
    monthly_fee: Decimal
    total: Decimal
    version_number: int

    @property
    def period(self) -> str:
        return f"{self.month:02d}/{self.year}"


def statement(agreement: Agreement, year: int, month: int) -> Statement | None:
    """The monthly statement: billable places (reserved minus released) × fee per place.
    None if the agreement does not cover that month."""
    version = agreement.current
    if version is None or not 1 <= month <= 12:
        return None
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    if last < version.valid_from or first > version.valid_to:
        return None
    state = agreements.occupancy(agreement, kita_year_of(first))
    billable = state.reserved - state.released
    return Statement(
        agreement=agreement,
        year=year,
        month=month,
        places=state.reserved,
        released=state.released,
        billable=billable,
        used=state.used,
        monthly_fee=version.monthly_fee,
        total=billable * version.monthly_fee,
        version_number=version.number,
    )


def statement_months(agreement: Agreement, today: date) -> list[tuple[int, int]]:
    """Months of the agreement up to the current one, newest first (at most 24)."""
    version = agreement.current
    if version is None:
        return []
    months = []
    y, m = today.year, today.month
    while len(months) < 24:
        first = date(y, m, 1)
        if first < date(version.valid_from.year, version.valid_from.month, 1):
            break
        if first <= version.valid_to:
            months.append((y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return months


def render_statement_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html).write_pdf()
