"""Planning pages of the back office: children per district (youth office; form and CSV
import) and the places of family daycare per district (youth office, and the Fachberatung
for its own district). Views parse input and call ``services_planning``; a district outside
the user's scope is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from . import services, services_planning
from .models import AgeGroup, CareHours, District
from .models_family_data import DaycareCapacity
from .views_backoffice import staff_required, youth_office_required

POPULATION_CSV_LIMIT = 200_000  # characters


def _year(request) -> int:
    try:
        year = int(request.GET.get("jahr", ""))
    except ValueError:
        return services_planning.upcoming_kita_year()
    return year if 2000 <= year <= 2100 else services_planning.upcoming_kita_year()


def _count(raw: str):
    """ "" → None; a whole number → int; anything else stays text (the service refuses it)."""
    raw = raw.strip().replace(".", "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


@youth_office_required
def population(request):
    year = _year(request)
    districts = list(District.objects.order_by("name"))
    errors: dict = {}
    values: dict[str, str] = {}
    if request.method == "POST" and request.POST.get("action") == "import":
        upload = request.FILES.get("csv")
        if upload is None or upload.size > POPULATION_CSV_LIMIT:
            errors = {"csv": [_("Bitte wählen Sie eine CSV-Datei (höchstens 200 kB).")]}
        else:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                errors = {"csv": [_("Die Datei ist keine UTF-8-Textdatei.")]}
            else:
                try:
                    count = services_planning.import_population_csv(request.user, text)
                except ValidationError as exc:
                    errors = exc.message_dict
                else:
                    messages.success(
                        request, _("%(count)d Zeilen wurden übernommen.") % {"count": count}
                    )
                    return redirect(f"{request.path}?jahr={year}")
    elif request.method == "POST":
        values = {
            f"{kind}_{d.pk}": request.POST.get(f"{kind}_{d.pk}", "")
            for d in districts
            for kind in ("u3", "ue3")
        }
        figures = {
            d.pk: (_count(values[f"u3_{d.pk}"]), _count(values[f"ue3_{d.pk}"])) for d in districts
        }
        try:
            services_planning.save_population(request.user, year, figures)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Die Bevölkerungszahlen wurden gespeichert."))
            return redirect(f"{request.path}?jahr={year}")
    saved = services_planning.population_of(year)
    rows = []
    for district in districts:
        row = saved.get(district.pk)
        rows.append(
            {
                "district": district,
                "u3": values.get(f"u3_{district.pk}", row.children_u3 if row else ""),
                "ue3": values.get(f"ue3_{district.pk}", row.children_ue3 if row else ""),
                "u3_errors": errors.get(f"u3_{district.pk}", []),
                "ue3_errors": errors.get(f"ue3_{district.pk}", []),
            }
        )
    labels = {
        "u3": _("Kinder unter 3 Jahren"),
        "ue3": _("Kinder von 3 Jahren bis zum Schuleintritt"),
    }
    summary = []
    for key, messages_ in errors.items():
        kind, _sep, pk = key.partition("_")
        district = next((d for d in districts if str(d.pk) == pk), None)
        if key == "csv":
            summary += [("csv", _("CSV-Datei"), m) for m in messages_]
        elif district is not None and kind in labels:
            label = f"{district.name}, {labels[kind]}"
            summary += [(key, label, m) for m in messages_]
        else:
            summary += [("", "", m) for m in messages_]
    return render(
        request,
        "registrations/planning/population.html",
        {"year": year, "rows": rows, "errors": errors, "summary": summary},
    )


@staff_required
def daycare_places(request):
    """The family-daycare places of the districts in the user's scope for a Kita year."""
    districts = list(services.visible_daycare_districts(request.user).order_by("name"))
    if not districts:
        raise Http404
    year = _year(request)
    capacities = services_planning.daycare_capacities(year)
    explicit = set(
        DaycareCapacity.objects.filter(kita_year=year, district__in=districts)
        .values_list("district_id", flat=True)
        .distinct()
    )
    rows = []
    for district in districts:
        cells = capacities.get(district.pk, {})
        rows.append(
            {
                "district": district,
                "u3": sum(p for (age, _h), p in cells.items() if age == "U3"),
                "ue3": sum(p for (age, _h), p in cells.items() if age == "UE3"),
                "own": district.pk in explicit,
            }
        )
    return render(
        request,
        "registrations/planning/daycare_places.html",
        {"year": year, "rows": rows},
    )


@staff_required
def daycare_places_edit(request, slug: str):
    district = get_object_or_404(services.visible_daycare_districts(request.user), slug=slug)
    year = _year(request)
    cells = [(age, hours) for age in AgeGroup.values for hours in CareHours.values]
    errors: dict = {}
    posted: dict[str, str] = {}
    if request.method == "POST":
        posted = {f"{age}_{hours}": request.POST.get(f"{age}_{hours}", "") for age, hours in cells}
        places = {(age, hours): _count(posted[f"{age}_{hours}"]) for age, hours in cells}
        try:
            services_planning.set_daycare_places(request.user, district, year, places)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Die Plätze in der Kindertagespflege wurden gespeichert."))
            return redirect(f"{request.path}?jahr={year}")
    explicit = {
        (row.age_group, row.care_hours): row.places
        for row in DaycareCapacity.objects.filter(district=district, kita_year=year)
    }
    effective = services_planning.daycare_capacities(year).get(district.pk, {})
    rows = [
        {
            "key": f"{age}_{hours}",
            "age": age,
            "hours": hours,
            "value": posted.get(f"{age}_{hours}", explicit.get((age, hours), "")),
            "effective": effective.get((age, hours), 0),
            "errors": errors.get(f"{age}_{hours}", []),
        }
        for age, hours in cells
    ]
    summary = [
        (
            f"ktp-{row['key']}",
            _("%(age)s, %(hours)d Stunden")
            % {"age": "U3" if row["age"] == "U3" else "Ü3", "hours": row["hours"]},
            message,
        )
        for row in rows
        for message in row["errors"]
    ]
    summary += [("", "", m) for key, ms in errors.items() if key == "kita_year" for m in ms]
    return render(
        request,
        "registrations/planning/daycare_places_edit.html",
        {"district": district, "year": year, "rows": rows, "errors": errors, "summary": summary},
    )
