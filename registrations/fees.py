"""Parent fees (Elternbeiträge) from the municipality's dated fee table.

One function, :func:`calculate_fee`, serves the care contract and the parents' fee
calculator, so both always show the same amount.

* The table in force on a day is the one with the latest ``valid_from`` on or before it.
* The bracket is the first row (by ascending ``income_up_to``, the open-ended row last) of
  the child's age group and care hours whose limit is at least the income.
* Fee-free years: in NRW the last two Kita years before school entry are free. A child
  born on or before 30 September of year Y starts school on 1 August of Y + 6 (otherwise
  Y + 7); the Kita years starting ``fee_free_years`` years before that are free.
* Sibling rule: for the second and further child in care (``sibling_position`` ≥ 2, the
  family's dearest child counts first) the fee is waived or halved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from .models_allocation import FeeBracket, FeeTable, SiblingRule, kita_year_of

ZERO = Decimal("0.00")


class NoFeeTable(LookupError):
    """No fee table is in force on the day asked for."""


@dataclass(frozen=True)
class FeeQuote:
    amount: Decimal
    base_amount: Decimal
    table: FeeTable
    bracket: FeeBracket | None
    fee_free: bool
    sibling_reduction: bool
    note: str


def fee_table_on(day: date) -> FeeTable:
    table = FeeTable.objects.filter(valid_from__lte=day).order_by("-valid_from").first()
    if table is None:
        raise NoFeeTable(day)
    return table


def school_entry_year(birth: date) -> int:
    return birth.year + 6 if (birth.month, birth.day) <= (9, 30) else birth.year + 7


def is_fee_free(birth: date, day: date, fee_free_years: int) -> bool:
    if fee_free_years <= 0:
        return False
    return kita_year_of(day) >= school_entry_year(birth) - fee_free_years


def calculate_fee(
    *,
    day: date,
    income: Decimal | int,
    age_group: str,
    care_hours: int,
    birth_date: date,
    sibling_position: int = 1,
) -> FeeQuote:
    """The monthly fee for one child from ``day`` on. Raises :class:`NoFeeTable`."""
    table = fee_table_on(day)
    rows = list(table.brackets.filter(age_group=age_group, care_hours=care_hours))
    return quote_from_rows(
        table,
        rows,
        day=day,
        income=income,
        birth_date=birth_date,
        sibling_position=sibling_position,
    )


def quote_from_rows(
    table: FeeTable,
    rows: list[FeeBracket],
    *,
    day: date,
    income: Decimal | int,
    birth_date: date,
    sibling_position: int = 1,
) -> FeeQuote:
    """:func:`calculate_fee` on already loaded brackets of one age group and care hours (the
    declaration page quotes every bracket with one query)."""
    income = Decimal(income)
    rows = sorted(rows, key=lambda r: (r.income_up_to is None, r.income_up_to or 0))
    bracket = next((r for r in rows if r.income_up_to is None or income <= r.income_up_to), None)
    base = bracket.monthly_fee if bracket is not None else ZERO
    free = is_fee_free(birth_date, day, table.fee_free_years)
    reduced = sibling_position > 1 and table.sibling_rule != SiblingRule.NONE
    amount = base
    notes = []
    if bracket is None:
        notes.append(_("keine Beitragsstufe für diese Altersgruppe und Stundenzahl"))
    elif bracket.income_up_to is None:
        notes.append(_("höchste Einkommensstufe"))
    else:
        notes.append(_("Einkommen bis %(limit)s €") % {"limit": euros(bracket.income_up_to)})
    if free:
        amount = ZERO
        notes.append(_("beitragsfrei: die letzten Kita-Jahre vor der Einschulung"))
    elif reduced:
        if table.sibling_rule == SiblingRule.SECOND_FREE:
            amount = ZERO
            notes.append(_("Geschwisterkind: beitragsfrei"))
        else:
            amount = (base / 2).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            notes.append(_("Geschwisterkind: halber Beitrag"))
    return FeeQuote(amount, base, table, bracket, free, reduced and not free, "; ".join(notes))


def euros(value: Decimal | int) -> str:
    """A whole euro amount in the active language: 37000 → "37.000" (German), "37,000"."""
    from django.utils.formats import number_format

    return number_format(Decimal(value), decimal_pos=0, use_l10n=True, force_grouping=True)


@dataclass(frozen=True)
class BracketInput:
    income_up_to: Decimal | None
    age_group: str
    care_hours: int
    monthly_fee: Decimal


def save_fee_table(
    actor,
    *,
    name: str,
    valid_from: date,
    sibling_rule: str,
    fee_free_years: int,
    brackets: list[BracketInput],
    table: FeeTable | None = None,
) -> FeeTable:
    """Create or replace a fee table with its brackets (atomic; ValidationError per field)."""
    from django.core.exceptions import ValidationError

    from tenants.common.services import record_audit

    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors.setdefault("name", []).append(_("Bitte geben Sie eine Bezeichnung an."))
    if sibling_rule not in SiblingRule.values:
        errors.setdefault("sibling_rule", []).append(_("Unbekannte Geschwisterregel."))
    if not 0 <= fee_free_years <= 6:
        errors.setdefault("fee_free_years", []).append(_("Bitte 0 bis 6 Jahre angeben."))
    clash = FeeTable.objects.filter(valid_from=valid_from)
    if table is not None:
        clash = clash.exclude(pk=table.pk)
    if clash.exists():
        errors.setdefault("valid_from", []).append(
            _("Ab diesem Tag gilt schon eine andere Beitragstabelle.")
        )
    seen = set()
    for row in brackets:
        key = (row.age_group, row.care_hours, row.income_up_to)
        if row.monthly_fee < 0:
            errors.setdefault("brackets", []).append(_("Beiträge dürfen nicht negativ sein."))
        if key in seen:
            errors.setdefault("brackets", []).append(
                _("Eine Einkommensgrenze steht für %(group)s/%(hours)d h doppelt in der Tabelle.")
                % {"group": row.age_group, "hours": row.care_hours}
            )
        seen.add(key)
    if not brackets:
        errors.setdefault("brackets", []).append(_("Die Tabelle braucht mindestens eine Zeile."))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if table is None:
            table = FeeTable(name=name.strip())
        table.name = name.strip()
        table.valid_from = valid_from
        table.sibling_rule = sibling_rule
        table.fee_free_years = fee_free_years
        table.save()
        table.brackets.all().delete()
        FeeBracket.objects.bulk_create(
            [
                FeeBracket(
                    table=table,
                    income_up_to=row.income_up_to,
                    age_group=row.age_group,
                    care_hours=row.care_hours,
                    monthly_fee=row.monthly_fee,
                )
                for row in brackets
            ]
        )
        record_audit(actor, "fee_table.saved", table, brackets=len(brackets))
    return table


def parse_brackets(text: str) -> list[BracketInput]:
    """Parse the back office's table text: one row per line,
    ``Altersgruppe; Stunden; Einkommen bis (leer = darüber); Beitrag``.
    Raises ValidationError naming the line."""
    from django.core.exceptions import ValidationError

    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(";")]
        try:
            if len(parts) != 4:
                raise ValueError
            group = {"U3": "U3", "UE3": "UE3", "Ü3": "UE3"}[parts[0].upper().replace("Ü", "Ü")]
            hours = int(parts[1])
            if hours not in (25, 35, 45):
                raise ValueError
            limit = Decimal(parts[2].replace(".", "").replace(",", ".")) if parts[2] else None
            fee = Decimal(parts[3].replace(",", "."))
        except (ValueError, KeyError, ArithmeticError):
            raise ValidationError(
                {
                    "brackets": [
                        _(
                            "Zeile %(line)d: erwartet „Altersgruppe; Stunden; Einkommen bis; "
                            "Beitrag“, z. B. „U3; 35; 25000; 45,00“."
                        )
                        % {"line": number}
                    ]
                }
            ) from None
        rows.append(BracketInput(limit, group, hours, fee))
    return rows


DEMO_INCOME_LIMITS = (25_000, 37_000, 49_000, 61_000, 75_000, 100_000, None)


def ensure_demo_fee_table(valid_from: date) -> FeeTable:
    """A plausible NRW-style table (the demo and tests); returns the existing one if present."""
    existing = FeeTable.objects.filter(valid_from=valid_from).first()
    if existing is not None:
        return existing
    brackets = []
    for group, factor in (("U3", Decimal("1.6")), ("UE3", Decimal("1.0"))):
        for hours, hour_factor in (
            (25, Decimal("0.8")),
            (35, Decimal("1.0")),
            (45, Decimal("1.3")),
        ):
            for step, limit in enumerate(DEMO_INCOME_LIMITS):
                fee = ZERO if step == 0 else (Decimal(28) * step * factor * hour_factor)
                brackets.append(
                    BracketInput(
                        None if limit is None else Decimal(limit),
                        group,
                        hours,
                        fee.quantize(Decimal("0.01")),
                    )
                )
    return save_fee_table(
        None,
        name="Elternbeitragstabelle",
        valid_from=valid_from,
        sibling_rule=SiblingRule.SECOND_FREE,
        fee_free_years=2,
        brackets=brackets,
    )
