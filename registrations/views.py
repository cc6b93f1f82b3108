"""Public pages of a municipality's Kita portal: the facility finder and facility profiles."""

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _

from .filters import FacilityFilter
from .models import AgeGroup, AgeGroupOffer, Facility, FacilityPhoto

PAGE_SIZE = 25
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def facility_queryset():
    return (
        Facility.objects.select_related("carrier", "district")
        .prefetch_related(Prefetch("age_groups", queryset=AgeGroupOffer.objects.all()))
        .order_by("name")
    )


def map_markers(queryset) -> list[dict]:
    """Marker data for every facility the filters found: one query, whatever their number."""
    rows = queryset.prefetch_related(None).values(
        "pk", "slug", "name", "street", "postcode", "city", "latitude", "longitude"
    )
    # one reverse() for all markers (a reverse per facility cost ~1/4 of the page's time)
    url_pattern = reverse("facility-detail", args=["__slug__"])
    return [
        {
            "name": row["name"],
            "address": f"{row['street']}, {row['postcode']} {row['city']}",
            "url": url_pattern.replace("__slug__", row["slug"]),
            "lat": float(row["latitude"]),
            "lon": float(row["longitude"]),
        }
        for row in rows
    ]


def map_config() -> dict:
    """Translated texts and the tile source for the finder map (static/registrations/...js)."""
    return {
        "tiles": TILE_URL,
        "attribution": _("Kartendaten © OpenStreetMap-Mitwirkende"),
        "zoomIn": _("Karte vergrößern"),
        "zoomOut": _("Karte verkleinern"),
        "tilesFailed": _(
            "Die Kartenkacheln konnten nicht geladen werden. Die Liste enthält alle Kitas."
        ),
        "noScript": _("Die Karte konnte nicht geladen werden. Die Liste enthält alle Kitas."),
        "profile": _("Zum Profil"),
    }


def facility_list(request):
    facility_filter = FacilityFilter(request.GET or None, queryset=facility_queryset())
    queryset = facility_filter.qs if facility_filter.is_bound else facility_queryset()
    markers = map_markers(queryset)
    paginator = Paginator(queryset, PAGE_SIZE)
    paginator.count = len(markers)  # the map already holds every match: no COUNT query
    page = paginator.get_page(request.GET.get("seite"))
    query = request.GET.copy()
    query.pop("seite", None)
    computed = facility_filter.computed_age_group
    return render(
        request,
        "registrations/facility_list.html",
        {
            "filter": facility_filter,
            "page": page,
            "count": paginator.count,
            "query": query.urlencode(),
            "computed_age_group": AgeGroup(computed).label if computed else None,
            "sorted_by_distance": bool(facility_filter.is_bound and request.GET.get("near"))
            and "near" not in facility_filter.form.errors,
            "markers": markers,
            "map_config": map_config(),
        },
    )


def facility_detail(request, slug: str):
    facility = get_object_or_404(
        facility_queryset().prefetch_related(
            Prefetch("photos", queryset=FacilityPhoto.objects.order_by("position", "pk"))
        ),
        slug=slug,
    )
    photos = list(facility.photos.all())[: FacilityPhoto.MAX_PER_FACILITY]
    return render(
        request,
        "registrations/facility_detail.html",
        {"facility": facility, "photos": photos},
    )
