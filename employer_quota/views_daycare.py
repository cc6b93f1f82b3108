"""HR's company daycare pages: setup, groups, educators, applications, waiting list, offers,
contracts (PDF) and the listing in a municipality's finder."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants.models import Tenant, TenantType

from . import daycare as services
from .access import hr_required
from .models import (
    CompanyDaycare,
    DaycareContract,
    DaycareGroup,
    DaycareOffer,
    StaffChildApplication,
)
from .reserved import render_statement_pdf


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _time(value: str) -> time | None:
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _municipalities():
    return Tenant.objects.filter(type=TenantType.MUNICIPALITY, is_active=True, is_template=False)


@hr_required
def overview(request):
    daycare = CompanyDaycare.objects.first()
    if request.method == "POST":
        post = request.POST
        action = post.get("action")
        try:
            if action == "save":
                fee = post.get("monthly_fee") or "0"
                try:
                    fee = Decimal(fee)
                except InvalidOperation:
                    raise ValidationError(
                        {"monthly_fee": [_("Bitte einen Betrag in Euro.")]}
                    ) from None
                services.save_daycare(
                    request.user,
                    daycare,
                    name=post.get("name", ""),
                    street=post.get("street", ""),
                    postcode=post.get("postcode", "")[:5],
                    city=post.get("city", ""),
                    opens_at=_time(post.get("opens_at")) or time(7, 0),
                    closes_at=_time(post.get("closes_at")) or time(17, 0),
                    description=post.get("description", "")[:2000],
                    monthly_fee=fee,
                )
            elif daycare is None:
                raise Http404
            elif action == "group":
                services.add_group(
                    request.user,
                    daycare,
                    name=post.get("name", ""),
                    room=post.get("room", ""),
                    capacity=_int(post.get("capacity"), 0),
                    min_age_months=_int(post.get("min_age_months"), -1),
                    max_age_months=_int(post.get("max_age_months"), -1),
                )
            elif action == "educator":
                group = daycare.groups.filter(pk=_int(post.get("group"), 0)).first()
                try:
                    hours = Decimal(post.get("weekly_hours") or "0")
                except InvalidOperation:
                    hours = Decimal("0")
                services.add_educator(
                    request.user,
                    daycare,
                    name=post.get("name", ""),
                    qualification=post.get("qualification", ""),
                    weekly_hours=hours,
                    group=group,
                )
            elif action == "application":
                birth, start = _date(post.get("child_birth_date")), _date(post.get("start_date"))
                if birth is None or start is None:
                    raise ValidationError(
                        {"start_date": [_("Bitte Geburtsdatum und Beginn als Datum angeben.")]}
                    )
                services.register_application(
                    request.user,
                    daycare,
                    child_first_name=post.get("child_first_name", ""),
                    child_birth_date=birth,
                    parent_name=post.get("parent_name", ""),
                    parent_email=post.get("parent_email", ""),
                    start_date=start,
                    weekly_hours=_int(post.get("weekly_hours"), 0),
                )
            elif action == "offer":
                application = get_object_or_404(
                    StaffChildApplication, pk=_int(post.get("application"), 0), daycare=daycare
                )
                group = get_object_or_404(
                    DaycareGroup, pk=_int(post.get("group"), 0), daycare=daycare
                )
                services.make_offer(request.user, application, group)
            elif action in ("accept", "decline"):
                offer = get_object_or_404(
                    DaycareOffer, pk=_int(post.get("offer"), 0), group__daycare=daycare
                )
                services.answer_offer(request.user, offer, accept=action == "accept")
            elif action == "contract":
                offer = get_object_or_404(
                    DaycareOffer, pk=_int(post.get("offer"), 0), group__daycare=daycare
                )
                services.make_contract(request.user, offer)
            elif action == "listing":
                municipality = (
                    _municipalities().filter(pk=_int(post.get("municipality"), 0)).first()
                )
                services.set_listing(request.user, daycare, municipality)
            else:
                raise Http404
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Gespeichert."))
        return redirect("daycare")
    context = {"daycare": daycare, "municipalities": _municipalities()}
    if daycare is not None:
        context.update(
            groups=[(g, services.free_places(g, date.today())) for g in daycare.groups.all()],
            educators=daycare.educators.select_related("group"),
            waiting=services.waiting_list(daycare),
            offers=DaycareOffer.objects.filter(group__daycare=daycare).select_related(
                "application", "group"
            ),
            contracts=DaycareContract.objects.filter(offer__group__daycare=daycare).select_related(
                "offer__application", "offer__group"
            ),
        )
    return render(request, "employer_quota/daycare.html", context)


@hr_required
def contract_pdf(request, pk: int):
    contract = get_object_or_404(
        DaycareContract.objects.select_related("offer__application__daycare", "offer__group"), pk=pk
    )
    html = render_to_string(
        "employer_quota/daycare_contract.html",
        {
            "contract": contract,
            "application": contract.offer.application,
            "daycare": contract.offer.application.daycare,
        },
    )
    response = HttpResponse(render_statement_pdf(html), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="betreuungsvertrag-{contract.pk}.pdf"'
    return response


@hr_required
@require_POST
def withdraw(request, pk: int):
    application = get_object_or_404(
        StaffChildApplication,
        pk=pk,
        status__in=[StaffChildApplication.Status.WAITING, StaffChildApplication.Status.OFFERED],
    )
    from django.utils import timezone

    application.status = StaffChildApplication.Status.WITHDRAWN
    application.closed_at = timezone.now()
    application.save(update_fields=["status", "closed_at"])
    DaycareOffer.objects.filter(application=application, status=DaycareOffer.Status.OPEN).update(
        status=DaycareOffer.Status.DECLINED
    )
    messages.success(request, _("Die Anmeldung ist zurückgezogen."))
    return redirect("daycare")
