"""Public pages of a municipality's Kita portal: the facility finder and facility profiles."""

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render

from .filters import FacilityFilter
from .models import AgeGroupOffer, Facility

PAGE_SIZE = 25


def facility_queryset():
    return (
        Facility.objects.select_related("carrier", "district")
        .prefetch_related(Prefetch("age_groups", queryset=AgeGroupOffer.objects.all()))
        .order_by("name")
    )


def facility_list(request):
    facility_filter = FacilityFilter(request.GET or None, queryset=facility_queryset())
    queryset = facility_filter.qs.distinct() if facility_filter.is_bound else facility_queryset()
    paginator = Paginator(queryset, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("seite"))
    query = request.GET.copy()
    query.pop("seite", None)
    return render(
        request,
        "registrations/facility_list.html",
        {
            "filter": facility_filter,
            "page": page,
            "count": paginator.count,
            "query": query.urlencode(),
        },
    )


def facility_detail(request, slug: str):
    facility = get_object_or_404(facility_queryset(), slug=slug)
    return render(request, "registrations/facility_detail.html", {"facility": facility})
