"""Planning figures of the youth office: children per district (population) and the places
of family daycare (Kindertagespflege) per district; the coverage rate built from them.

* ``save_population`` / ``import_population_csv``: children under three and from three to
  school entry per district and Kita year (aggregates only, no personal data).
* ``set_daycare_places``: family-daycare places of one district per age group × care hours
  for a Kita year (youth office, or the district's Fachberatung). ``daycare_capacities``
  is what the allocation engine's ``KTP:<district>`` pseudo-facilities and the statistics
  read: these rows, else the district's Tagespflegepersonen's places (U3 only, split over
  their hours like a Kita's places).
* ``add_coverage``: the coverage rate (Versorgungsquote) per district and age group,

      Versorgungsquote = Plätze (Kitas + Kindertagespflege) ÷ Kinder der Altersgruppe × 100,

  the planning figure youth offices report (U3: the legal entitlement from age one; the
  goal agreement of Stadt Bochum: 40 %). No population figure → no rate (``None``),
  never an estimate.

Every writer is atomic, validates first (ValidationError per field; nothing saved on
error) and writes an audit entry (ids and action names only).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.common.services import record_audit

from .models import AgeGroup, CareHours, District, FamilyDaycarePerson
from .models_allocation import AllocationPolicy
from .models_family_data import DaycareCapacity, DistrictPopulation
from .services_allocation import save_place_grid

MAX_POPULATION = 1_000_000
MAX_DAYCARE_PLACES = 2_000


def upcoming_kita_year(today=None) -> int:
    """The Kita year runs are planned for by default: the one starting next (this year's
    from its start month on, the current one before)."""
    today = today or timezone.localdate()
    start_month = AllocationPolicy.current().kita_year_start_month
    return today.year + (1 if today.month >= start_month else 0)


def _check_year(kita_year, errors: dict) -> None:
    if not isinstance(kita_year, int) or not 2000 <= kita_year <= 2100:
        errors["kita_year"] = [_("Bitte geben Sie ein Kita-Jahr wie 2027 an.")]


def _count_error(value, maximum: int) -> str | None:
    if not isinstance(value, int):
        return _("Bitte eine ganze Zahl angeben.")
    if value < 0:
        return _("Die Zahl darf nicht negativ sein.")
    if value > maximum:
        return _("Bitte eine Zahl bis %(max)s angeben.") % {"max": f"{maximum:,}".replace(",", ".")}
    return None


# --- population -------------------------------------------------------------------------------


def save_population(actor, kita_year: int, figures: dict[int, tuple]) -> int:
    """Set the children per district for a Kita year: ``{district_id: (under_3, 3_to_school)}``
    with ints; ``(None, None)`` removes the district's row. Values that are not ints are
    refused with a message at their field (``u3_<id>``, ``ue3_<id>``). Returns the number of
    districts with figures after saving."""
    errors: dict[str, list[str]] = {}
    _check_year(kita_year, errors)
    known = set(District.objects.filter(pk__in=list(figures)).values_list("pk", flat=True))
    for district_id, (u3, ue3) in figures.items():
        if district_id not in known:
            errors.setdefault("district", []).append(_("Unbekannter Bezirk."))
            continue
        if u3 is None and ue3 is None:
            continue
        for key, value in ((f"u3_{district_id}", u3), (f"ue3_{district_id}", ue3)):
            if value is None:
                errors[key] = [_("Bitte beide Zahlen angeben oder beide Felder leer lassen.")]
            elif message := _count_error(value, MAX_POPULATION):
                errors[key] = [message]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for district_id, (u3, ue3) in figures.items():
            if u3 is None and ue3 is None:
                DistrictPopulation.objects.filter(
                    district_id=district_id, kita_year=kita_year
                ).delete()
            else:
                DistrictPopulation.objects.update_or_create(
                    district_id=district_id,
                    kita_year=kita_year,
                    defaults={"children_u3": u3, "children_ue3": ue3},
                )
        record_audit(actor, "population.saved", None, kita_year=kita_year, districts=len(figures))
    return DistrictPopulation.objects.filter(kita_year=kita_year).count()


def _number(text: str):
    text = text.strip().replace(".", "").replace(" ", "")
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return text


def import_population_csv(actor, text: str) -> int:
    """Import population figures from CSV text, one line per district and Kita year:
    ``Bezirk;Kita-Jahr;Kinder unter 3;Kinder 3 bis Schuleintritt`` (semicolons or commas;
    a header line is skipped; the district by name or short name). All lines or none:
    ValidationError naming each bad line. Returns the number of lines imported."""
    text = text.lstrip("\ufeff")
    try:
        dialect = csv.Sniffer().sniff(text[:2000], delimiters=";,\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ";"
    districts = {}
    for district in District.objects.all():
        districts[district.name.casefold()] = district.pk
        districts[district.slug.casefold()] = district.pk
    errors: list[str] = []
    parsed: dict[int, dict[int, tuple]] = defaultdict(dict)
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if not row or not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in row]
        if number == 1 and not _is_int(cells[1] if len(cells) > 1 else ""):
            continue  # header
        if len(cells) != 4:
            errors.append(
                _(
                    "Zeile %(line)d: erwartet „Bezirk; Kita-Jahr; Kinder unter 3; "
                    "Kinder 3 bis Schuleintritt“, z. B. „Mitte; 2027; 2600; 2900“."
                )
                % {"line": number}
            )
            continue
        district_id = districts.get(cells[0].casefold())
        year, u3, ue3 = _number(cells[1]), _number(cells[2]), _number(cells[3])
        if district_id is None:
            errors.append(
                _("Zeile %(line)d: Den Bezirk „%(name)s“ gibt es nicht.")
                % {"line": number, "name": cells[0][:60]}
            )
        elif not isinstance(year, int) or not 2000 <= year <= 2100:
            errors.append(
                _("Zeile %(line)d: Bitte ein Kita-Jahr wie 2027 angeben.") % {"line": number}
            )
        elif (problem := _count_error(u3, MAX_POPULATION)) or (
            problem := _count_error(ue3, MAX_POPULATION)
        ):
            errors.append(_("Zeile %(line)d: %(problem)s") % {"line": number, "problem": problem})
        elif district_id in parsed[year]:
            errors.append(
                _("Zeile %(line)d: Bezirk und Kita-Jahr stehen doppelt in der Datei.")
                % {"line": number}
            )
        else:
            parsed[year][district_id] = (u3, ue3)
    if not errors and not any(parsed.values()):
        errors.append(_("Die Datei enthält keine Zeilen mit Zahlen."))
    if errors:
        raise ValidationError({"csv": errors})
    with transaction.atomic():
        for year, figures in parsed.items():
            save_population(actor, year, figures)
    return sum(len(figures) for figures in parsed.values())


def _is_int(text: str) -> bool:
    return isinstance(_number(text), int)


def population_of(kita_year: int) -> dict[int, DistrictPopulation]:
    return {row.district_id: row for row in DistrictPopulation.objects.filter(kita_year=kita_year)}


# --- family-daycare places --------------------------------------------------------------------


def daycare_capacities(kita_year: int) -> dict[int, dict[tuple[str, int], int]]:
    """Family-daycare places per district and (age group, care hours) for the Kita year: the
    ``DaycareCapacity`` rows; for a district and age group without rows, U3 only, the
    places of its Tagespflegepersonen split over their hours (two queries)."""
    from .allocation_db import split_places

    result: dict[int, dict[tuple[str, int], int]] = defaultdict(dict)
    for district_id, age, hours, places in DaycareCapacity.objects.filter(
        kita_year=kita_year
    ).values_list("district_id", "age_group", "care_hours", "places"):
        result[district_id][(age, hours)] = places
    explicit_u3 = {d for d, cells in result.items() if any(a == "U3" for a, _h in cells)}
    for district_id, places, hours in FamilyDaycarePerson.objects.values_list(
        "district_id", "places", "care_hours"
    ).order_by("pk"):
        if district_id in explicit_u3:
            continue
        cells = result[district_id]
        for band, count in split_places(places, hours or []).items():
            cells[("U3", band)] = cells.get(("U3", band), 0) + count
    return {d: cells for d, cells in result.items() if cells}


def set_daycare_places(actor, district: District, kita_year: int, places: dict) -> None:
    """Set one district's family-daycare places per (age group, care hours) for a Kita year:
    an int sets the row, ``None`` removes it (the default from the Tagespflegepersonen
    applies again), anything else is refused. Atomic; ValidationError per cell
    (``<age>_<hours>``)."""
    errors: dict[str, list[str]] = {}
    _check_year(kita_year, errors)
    for (age, hours), value in places.items():
        key = f"{age}_{hours}"
        if age not in AgeGroup.values or hours not in CareHours.values:
            errors[key] = [_("Unbekannte Altersgruppe oder Stundenzahl.")]
        elif value is not None and (message := _count_error(value, MAX_DAYCARE_PLACES)):
            errors[key] = [message]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        save_place_grid(DaycareCapacity, kita_year, places, district=district)
        record_audit(actor, "daycare_places.saved", district, kita_year=kita_year)


def daycare_places_by_age(kita_year: int) -> dict[tuple[int, str], int]:
    """Family-daycare places per (district id, age group) for the Kita year."""
    totals: dict[tuple[int, str], int] = defaultdict(int)
    for district_id, cells in daycare_capacities(kita_year).items():
        for (age, _hours), places in cells.items():
            totals[(district_id, age)] += places
    return totals


# --- coverage -----------------------------------------------------------------------------------


def _rate(part: int, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def add_coverage(rows: list[dict], kita_year: int) -> list[dict]:
    """Add ``population`` and ``coverage`` (Versorgungsquote, %) to statistics rows (one per
    district id and age group, with ``places``), and one total row per age group. Without a
    population figure both stay ``None``; a total has a rate only if every district has
    one."""
    population = population_of(kita_year)
    totals: dict[str, dict] = {}
    for row in rows:
        figures = population.get(row["district_id"])
        count = None
        if figures is not None:
            count = figures.children_u3 if row["age_group"] == "U3" else figures.children_ue3
        row["population"] = count
        row["coverage"] = _rate(row["places"], count)
        total = totals.setdefault(
            row["age_group"],
            {
                "district": _("Gesamt"),
                "district_id": None,
                "age_group": row["age_group"],
                "kita_year": kita_year,
                "total": True,
                **{key: 0 for key in STAT_SUMS},
                "population": 0,
            },
        )
        for key in STAT_SUMS:
            total[key] += row[key]
        if total["population"] is not None:
            total["population"] = None if count is None else total["population"] + count
    for total in totals.values():
        total["coverage"] = _rate(total["places"], total["population"])
        total["placed_share"] = _rate(total["placed"], total["applications"])
    return rows + [totals[age] for age in AgeGroup.values if age in totals]


STAT_SUMS = (
    "places",
    "kita_places",
    "daycare_places",
    "applications",
    "placed",
    "unplaced",
    "unfilled",
)
