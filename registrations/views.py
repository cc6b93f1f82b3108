"""Public pages of a municipality's Kita portal: the facility finder and facility profiles."""

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from onboarding.context_processors import portal_setup

from . import finder
from .filters import FacilityFilter
from .models import AgeGroup, AgeGroupOffer, Facility, FacilityPhoto

PAGE_SIZE = 25
COMPANY_DAYCARES = Template("{% load employer_municipal %}{% company_daycares %}")
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def facility_queryset():
    return (
        Facility.objects.select_related("carrier", "district")
        .prefetch_related(Prefetch("age_groups", queryset=AgeGroupOffer.objects.all()))
        .order_by("name")
    )


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
    # The body (filter form, results, map data) depends only on the data version, the language
    # and the query; it is rendered once per combination and process (registrations/finder.py).
    version = finder.data_version()
    key = finder.body_key(request.GET)
    body = finder.cached_body(version, key)
    if body is None:
        body = finder.store_body(version, key, _render_finder_body(request, version))
    return render(request, "registrations/facility_list.html", {"finder_body": body})


def _render_finder_body(request, version: str) -> str:
    choices = finder.filter_choices(
        version, {name: str(label) for name, label in FacilityFilter.EMPTY_LABELS.items()}
    )
    facility_filter = FacilityFilter(
        request.GET or None, queryset=facility_queryset(), choices=choices
    )
    queryset = facility_filter.qs if facility_filter.is_bound else facility_queryset()
    sorted_by_distance = (
        bool(facility_filter.is_bound and request.GET.get("near"))
        and "near" not in facility_filter.form.errors
    )
    # Which facilities match, in which order (one query); their cards and markers come from
    # the per-process cache of the current data version.
    if sorted_by_distance:
        rows = list(queryset.values_list("pk", "distance_km"))
    else:
        rows = [(pk, None) for pk in queryset.values_list("pk", flat=True)]
    ids = [pk for pk, _ in rows]
    paginator = Paginator(rows, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("seite"))
    rendered = finder.cards(version, [pk for pk, _ in page.object_list], facility_queryset())
    cards = [
        {"head": rendered[pk].head, "body": rendered[pk].body, "distance_km": distance}
        for pk, distance in page.object_list
        if pk in rendered  # a facility deleted a moment ago
    ]
    query = request.GET.copy()
    query.pop("seite", None)
    computed = facility_filter.computed_age_group
    return render_to_string(
        "registrations/_finder_body.html",
        {
            "filter": facility_filter,
            "page": page,
            "cards": cards,
            "count": paginator.count,
            "query": query.urlencode(),
            "computed_age_group": AgeGroup(computed).label if computed else None,
            "sorted_by_distance": sorted_by_distance,
            "markers": finder.markers(version, ids),
            "map_config": map_config(),
            # the portal's welcome text (onboarding) and the employers' company daycares
            # listed here (issue 5): both part of the data version
            "welcome": finder.kept_part(
                version,
                "welcome",
                lambda: render_to_string("onboarding/_welcome.html", portal_setup(request)),
            ),
            "company_daycares": finder.kept_part(
                version, "company_daycares", lambda: COMPANY_DAYCARES.render(Context())
            ),
        },
    )


def facility_detail(request, slug: str):
    # The profile depends only on the data version, the language and the facility; rendered
    # once per combination and process (registrations/finder.py).
    version = finder.data_version()
    key = (get_language() or "", "facility", slug)
    cached = finder.cached_body(version, key)
    if cached is None:
        facility = get_object_or_404(
            facility_queryset().prefetch_related(
                Prefetch("photos", queryset=FacilityPhoto.objects.order_by("position", "pk"))
            ),
            slug=slug,
        )
        photos = list(facility.photos.all())[: FacilityPhoto.MAX_PER_FACILITY]
        body = render_to_string(
            "registrations/_facility_detail_body.html", {"facility": facility, "photos": photos}
        )
        cached = finder.store_body(version, key, f"{facility.name}\x00{body}")
    name, _, body = cached.partition("\x00")
    return render(
        request,
        "registrations/facility_detail.html",
        {"facility_name": name, "facility_body": mark_safe(body)},  # noqa: S308 - our template
    )
