"""Import of carriers and facilities from the onboarding template (CSV or XLSX).

All rows are checked first; the report names every problem by row and column. If any row is
bad, nothing is written. A good file is applied in one transaction and is idempotent: a
facility is found again by its short name (column "Kurzname", or derived from name and town),
so importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from tenants.common.services import record_audit

from .models import AgeGroup, AgeGroupOffer, CareHours, Carrier, District, Facility

# (key, required), in the order of HEADERS
COLUMNS = [
    ("carrier", True),
    ("carrier_kind", True),
    ("name", True),
    ("slug", False),
    ("district", True),
    ("street", True),
    ("postcode", True),
    ("city", True),
    ("latitude", True),
    ("longitude", True),
    ("opens_at", True),
    ("closes_at", True),
    ("care_hours", True),
    ("places_u3", True),
    ("places_ue3", True),
    ("phone", False),
    ("email", False),
]
# The template's headers are German in every language, so a file works for every admin.
HEADERS = ["Träger", "Trägerart", "Kita", "Kurzname", "Bezirk", "Straße und Hausnummer", "PLZ",
           "Ort", "Breite", "Länge", "öffnet", "schließt", "Betreuungsumfänge", "Plätze U3",
           "Plätze Ü3", "Telefon", "E-Mail"]  # fmt: skip
EXAMPLE = ["Stadt Herne", "kommunal", "Kita Sonnenblume", "", "Herne-Mitte",
           "Bahnhofstraße 1", "44623", "Herne", "51.5380", "7.2190", "07:00", "16:30",
           "25;35;45", "10", "45", "02323 16-0", "kita.sonnenblume@example.org"]  # fmt: skip
MAX_ROWS = 5000
TIME_RE = re.compile(r"^(\d{1,2})[:.](\d{2})$")


@dataclass
class RowProblem:
    row: int  # 1 = the header row
    column: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    carriers_created: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return not self.problems and self.rows > 0


def template_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(HEADERS)
    writer.writerow(EXAMPLE)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Kitas"
    sheet.append(HEADERS)
    sheet.append(EXAMPLE)
    kinds = workbook.create_sheet("Trägerarten")
    kinds.append(["Wert", "Bedeutung"])
    for value, label in Carrier.Kind.choices:
        kinds.append([value, str(label)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- Reading -------------------------------------------------------------------------------


class UnreadableFile(Exception):
    pass


def _read_rows(content: bytes, filename: str) -> list[list[str]]:
    name = (filename or "").lower()
    if name.endswith(".xlsx") or content[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            sheet = workbook.worksheets[0]
            rows = [
                ["" if cell is None else _cell_text(cell) for cell in row]
                for row in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2)
            ]
        except Exception as exc:  # zip/xml errors of a broken workbook
            raise UnreadableFile(type(exc).__name__) from exc
        return rows
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("encoding") from exc
    if "\x00" in text:
        raise UnreadableFile("binary")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)][: MAX_ROWS + 2]


def _cell_text(value) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --- Checking ------------------------------------------------------------------------------


def _time(value: str) -> time | None:
    match = TIME_RE.match(value)
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _kind(value: str) -> str | None:
    lowered = value.strip().lower()
    for kind_value, label in Carrier.Kind.choices:
        if lowered in (kind_value, str(label).lower()):
            return kind_value
    return None


def _check_row(number: int, values: dict[str, str], districts: dict[str, District], report):
    def problem(key: str, message: str) -> None:
        header = HEADERS[[c[0] for c in COLUMNS].index(key)]
        report.problems.append(RowProblem(number, header, message))

    for key, required in COLUMNS:
        if required and not values.get(key):
            problem(key, _("Pflichtfeld ist leer."))
    data: dict = {k: v.strip() for k, v in values.items()}
    if data.get("carrier_kind"):
        data["carrier_kind"] = _kind(data["carrier_kind"])
        if data["carrier_kind"] is None:
            problem(
                "carrier_kind",
                _("Unbekannte Trägerart „%(value)s“. Erlaubt: %(allowed)s.")
                % {"value": values["carrier_kind"], "allowed": ", ".join(Carrier.Kind.values)},
            )
    if data.get("district"):
        district = districts.get(data["district"].lower()) or districts.get(
            slugify(data["district"])
        )
        if district is None:
            problem(
                "district",
                _("Unbekannter Bezirk „%(value)s“. Legen Sie ihn zuerst unter „Bezirke“ an.")
                % {"value": data["district"]},
            )
        data["district"] = district
    if data.get("postcode") and not re.fullmatch(r"\d{5}", data["postcode"]):
        problem("postcode", _("Die PLZ muss fünfstellig sein."))
    for key, low, high in (("latitude", 47, 56), ("longitude", 5, 16)):
        if data.get(key):
            try:
                number_value = Decimal(data[key].replace(",", "."))
            except InvalidOperation:
                number_value = None
            if number_value is None or not low <= number_value <= high:
                problem(key, _("Keine gültige Koordinate in Deutschland."))
            data[key] = number_value
    for key in ("opens_at", "closes_at"):
        if data.get(key):
            data[key] = _time(data[key])
            if data[key] is None:
                problem(key, _("Bitte als Uhrzeit angeben, z. B. 07:30."))
    if data.get("opens_at") and data.get("closes_at") and data["opens_at"] >= data["closes_at"]:
        problem("closes_at", _("Die Kita muss nach ihrer Öffnung schließen."))
    if data.get("care_hours"):
        try:
            hours = sorted({int(part) for part in re.split(r"[;,/ ]+", data["care_hours"]) if part})
        except ValueError:
            hours = []
        if not hours or not set(hours) <= set(CareHours.values):
            problem("care_hours", _("Erlaubt sind 25, 35 und 45 (z. B. „25;35;45“)."))
        data["care_hours"] = hours
    for key in ("places_u3", "places_ue3"):
        if data.get(key):
            if not data[key].isdigit() or int(data[key]) > 500:
                problem(key, _("Bitte eine ganze Zahl zwischen 0 und 500."))
            else:
                data[key] = int(data[key])
    if data.get("email"):
        try:
            validate_email(data["email"])
        except ValidationError:
            problem("email", _("Keine gültige E-Mail-Adresse."))
    data["slug"] = slugify(data.get("slug") or f"{data.get('name', '')}-{data.get('city', '')}")[
        :200
    ]
    return data


def check_facility_file(content: bytes, filename: str) -> tuple[ImportReport, list[dict]]:
    report = ImportReport()
    try:
        rows = _read_rows(content, filename)
    except UnreadableFile:
        report.problems.append(
            RowProblem(
                0,
                "",
                _(
                    "Die Datei ließ sich nicht lesen. Bitte laden Sie die Vorlage als CSV "
                    "(UTF-8) oder XLSX hoch."
                ),
            )
        )
        return report, []
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        report.problems.append(RowProblem(0, "", _("Die Datei ist leer.")))
        return report, []
    header = [cell.strip() for cell in rows[0]]
    if header[: len(HEADERS)] != HEADERS or any(header[len(HEADERS) :]):
        missing = [h for h in HEADERS if h not in header]
        unknown = [h for h in header if h and h not in HEADERS]
        parts = []
        if missing:
            parts.append(_("fehlt: %(cols)s") % {"cols": ", ".join(missing)})
        if unknown:
            parts.append(_("unbekannt: %(cols)s") % {"cols": ", ".join(unknown)})
        if not parts:
            parts.append(_("Reihenfolge weicht von der Vorlage ab"))
        report.problems.append(
            RowProblem(
                1,
                "",
                _("Die Spalten stimmen nicht mit der Vorlage überein (%(detail)s).")
                % {"detail": "; ".join(parts)},
            )
        )
        return report, []
    if len(rows) - 1 > MAX_ROWS:
        report.problems.append(
            RowProblem(0, "", _("Höchstens %(max)d Zeilen pro Datei.") % {"max": MAX_ROWS})
        )
        return report, []
    districts = {}
    for district in District.objects.all():
        districts[district.name.lower()] = district
        districts[district.slug] = district
    keys = [key for key, _required in COLUMNS]
    checked: list[dict] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        values = dict(zip(keys, [*row, *[""] * len(keys)], strict=False))
        data = _check_row(number, values, districts, report)
        if data["slug"]:
            if data["slug"] in seen:
                report.problems.append(
                    RowProblem(
                        number,
                        "Kita",
                        _("Doppelte Kita: dieselbe Kita steht schon in Zeile %(row)d.")
                        % {"row": seen[data["slug"]]},
                    )
                )
            seen.setdefault(data["slug"], number)
        checked.append(data)
    report.rows = len(checked)
    return report, checked


# --- Applying ------------------------------------------------------------------------------

FACILITY_FIELDS = ("name", "district", "street", "postcode", "city", "latitude", "longitude",
                   "opens_at", "closes_at", "care_hours", "phone", "email")  # fmt: skip


def import_facilities(actor, content: bytes, filename: str) -> ImportReport:
    """Check the whole file; apply it only if every row is good (one transaction)."""
    report, rows = check_facility_file(content, filename)
    if report.problems:
        return report
    with transaction.atomic():
        carriers = {carrier.name: carrier for carrier in Carrier.objects.select_for_update()}
        for data in rows:
            carrier = carriers.get(data["carrier"])
            if carrier is None:
                carrier = Carrier.objects.create(name=data["carrier"], kind=data["carrier_kind"])
                carriers[carrier.name] = carrier
                report.carriers_created += 1
            elif carrier.kind != data["carrier_kind"]:
                carrier.kind = data["carrier_kind"]
                carrier.save(update_fields=["kind"])
            values = {name: data.get(name) or "" for name in ("phone", "email")}
            values.update({name: data[name] for name in FACILITY_FIELDS if name not in values})
            values["carrier"] = carrier
            facility = Facility.objects.select_for_update().filter(slug=data["slug"]).first()
            if facility is None:
                facility = Facility.objects.create(slug=data["slug"], **values)
                report.created += 1
                changed = True
            else:
                changed = any(
                    getattr(facility, name) != value
                    for name, value in values.items()
                    if name not in ("latitude", "longitude")
                ) or any(
                    Decimal(getattr(facility, name))
                    != Decimal(values[name]).quantize(Decimal("0.00001"))
                    for name in ("latitude", "longitude")
                )
                if changed:
                    for name, value in values.items():
                        setattr(facility, name, value)
                    facility.save()
            for age_group, key in ((AgeGroup.U3, "places_u3"), (AgeGroup.UE3, "places_ue3")):
                offer = AgeGroupOffer.objects.filter(facility=facility, age_group=age_group).first()
                if offer is None:
                    AgeGroupOffer.objects.create(
                        facility=facility, age_group=age_group, places=data[key]
                    )
                    changed = True
                elif offer.places != data[key]:
                    offer.places = data[key]
                    offer.save(update_fields=["places"])
                    changed = True
            if not changed:
                report.unchanged += 1
        report.updated = report.rows - report.created - report.unchanged
        record_audit(
            actor,
            "facilities.imported",
            None,
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            carriers_created=report.carriers_created,
        )
    return report
