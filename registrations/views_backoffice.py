"""Back office of the youth office, carriers, facilities and Fachberatung (staff only).

Every list is scoped by services.visible_facilities / visible_daycare_districts; an object
outside the scope is a 404.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from kitaportal.exports import table_download

from tenants.accounts.models import Role

from . import services
from .models import (
    AgeGroup,
    Application,
    CareHours,
    Child,
    DaycareRequest,
    Wish,
    WishStatus,
)

STAFF_ROLES = {
    Role.YOUTH_OFFICE,
    Role.TENANT_ADMIN,
    Role.CARRIER_STAFF,
    Role.FACILITY_STAFF,
    Role.FACHBERATUNG,
}


def roles_required(*roles):
    """Login required, and one of `roles`; anyone else gets a 404 (nothing to see here)."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if request.user.role not in roles:
                raise Http404
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


staff_required = roles_required(*STAFF_ROLES)
youth_office_required = roles_required(Role.YOUTH_OFFICE, Role.TENANT_ADMIN)
tenant_admin_required = roles_required(Role.TENANT_ADMIN)


@staff_required
def dashboard(request):
    return render(
        request,
        "registrations/backoffice/dashboard.html",
        {
            "facility_count": services.visible_facilities(request.user).count(),
            "daycare_districts": services.visible_daycare_districts(request.user).count(),
            "is_youth_office": request.user.role in (Role.YOUTH_OFFICE, Role.TENANT_ADMIN),
        },
    )


def _incoming(request):
    """The visible wishes of active applications, filtered by the query string."""
    facilities = services.visible_facilities(request.user)
    wishes = (
        Wish.objects.filter(facility__in=facilities, application__status=Application.Status.ACTIVE)
        .select_related("facility", "application")
        .prefetch_related(Prefetch("application__children", queryset=Child.objects.order_by("pk")))
        .order_by("facility__name", "rank", "application__created_at")
    )
    filters = {
        "facility": request.GET.get("facility", ""),
        "care_hours": request.GET.get("care_hours", ""),
        "status": request.GET.get("status", ""),
        "age_group": request.GET.get("age_group", ""),
    }
    if filters["facility"].isdigit():
        wishes = wishes.filter(facility_id=int(filters["facility"]))
    if filters["care_hours"].isdigit():
        wishes = wishes.filter(application__care_hours=int(filters["care_hours"]))
    if filters["status"] in WishStatus.values:
        wishes = wishes.filter(status=filters["status"])
    rows = []
    for wish in wishes:
        children = list(wish.application.children.all())
        group = services.age_group_at(children[0].birth_date, wish.application.start_date)
        if filters["age_group"] in AgeGroup.values and group != filters["age_group"]:
            continue
        rows.append({"wish": wish, "children": children, "age_group": AgeGroup(group).label})
    return rows, filters, facilities


@staff_required
def incoming(request):
    """Each facility's incoming pre-registrations with rank, age group, start and hours."""
    rows, filters, facilities = _incoming(request)
    return render(
        request,
        "registrations/backoffice/incoming.html",
        {
            "rows": rows,
            "filters": filters,
            "facilities": facilities.order_by("name"),
            "care_hours": CareHours.choices,
            "statuses": WishStatus.choices,
            "age_groups": AgeGroup.choices,
            "query": request.GET.urlencode(),
        },
    )


def _export_rows(rows):
    header = [
        _("Kita"),
        _("Vorgangsnummer"),
        _("Rang"),
        _("Kinder"),
        _("Geburtsdatum"),
        _("Altersgruppe"),
        _("Beginn"),
        _("Stunden"),
        _("Status"),
        _("eingegangen am"),
    ]
    body = [
        [
            row["wish"].facility.name,
            row["wish"].application.reference,
            row["wish"].rank,
            ", ".join(f"{c.first_name} {c.last_name}" for c in row["children"]),
            row["children"][0].birth_date.isoformat(),
            str(row["age_group"]),
            row["wish"].application.start_date.isoformat(),
            row["wish"].application.care_hours,
            row["wish"].get_status_display(),
            timezone.localtime(row["wish"].application.created_at).strftime("%Y-%m-%d %H:%M"),
        ]
        for row in rows
    ]
    return header, body


@staff_required
def incoming_export(request, fmt: str):
    rows, _filters, _facilities = _incoming(request)
    header, body = _export_rows(rows)
    stamp = timezone.localdate().isoformat()
    return table_download(
        fmt, header, body, f"voranmeldungen-{stamp}", sheet_title=_("Voranmeldungen")
    )


@staff_required
def daycare_queue(request):
    """The Fachberatung's work queue: family-daycare requests of its district."""
    districts = services.visible_daycare_districts(request.user)
    requests = (
        DaycareRequest.objects.filter(district__in=districts)
        .select_related("district", "application")
        .prefetch_related("application__children", "application__family__guardians")
        .order_by("status", "application__created_at")
    )
    return render(
        request,
        "registrations/backoffice/daycare_queue.html",
        {"requests": requests, "statuses": DaycareRequest.Status},
    )


@staff_required
@require_POST
def daycare_status(request, pk: int):
    districts = services.visible_daycare_districts(request.user)
    daycare = get_object_or_404(DaycareRequest, pk=pk, district__in=districts)
    try:
        services.set_daycare_status(request.user, daycare, request.POST.get("status", ""))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Der Status ist gespeichert."))
    return redirect("backoffice-daycare")


@youth_office_required
def duplicates(request):
    return render(
        request,
        "registrations/backoffice/duplicates.html",
        {"pairs": services.suspected_duplicates()},
    )


@youth_office_required
@require_POST
def merge(request):
    try:
        keep = get_object_or_404(Application, pk=int(request.POST.get("keep", "0")))
        drop = get_object_or_404(Application, pk=int(request.POST.get("drop", "0")))
    except ValueError as exc:
        raise Http404 from exc
    try:
        services.merge_applications(request.user, keep, drop)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("%(drop)s wurde mit %(keep)s zusammengeführt.")
            % {"drop": drop.reference, "keep": keep.reference},
        )
    return redirect("backoffice-duplicates")


@tenant_admin_required
def staff_accounts(request):
    """The tenant admin creates and deactivates staff accounts."""
    from django.contrib.auth import get_user_model

    from . import staff
    from .forms import StaffAccountForm

    form = StaffAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            staff.create_staff_account(
                request.user, **form.cleaned_data, base_url=request.build_absolute_uri("/")
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("Das Konto ist angelegt; die Einladung ist unterwegs."))
            return redirect("backoffice-staff")
    accounts = (
        get_user_model()
        .objects.filter(role__in=staff.STAFF_ROLES)
        .select_related(
            "staff_assignment__carrier",
            "staff_assignment__facility",
            "staff_assignment__district",
        )
        .order_by("last_name", "email")
    )
    return render(
        request, "registrations/backoffice/staff.html", {"form": form, "accounts": accounts}
    )


@tenant_admin_required
@require_POST
def deactivate_staff(request, pk: int):
    from django.contrib.auth import get_user_model

    from . import staff

    user = get_object_or_404(get_user_model(), pk=pk, role__in=staff.STAFF_ROLES)
    try:
        staff.deactivate_staff_account(request.user, user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Das Konto ist deaktiviert."))
    return redirect("backoffice-staff")
