"""Allocation pages (issue 4): runs with progress, comparison, criteria, fee tables, statistics
(youth office); offers and contracts (facility/carrier staff, families); the public criteria
page and fee calculator. Views parse input and call the services; anything outside a user's
scope is a 404."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from kitaportal.exports import table_download

from tenants.accounts.models import Role

from . import contracts, fees, services
from . import services_allocation as allocation
from .criteria import TIE_BREAK_CHAIN, ensure_default_catalogue
from .explanations import explain
from .models import AgeGroup, CareHours, Carrier, Facility, Wish
from .models_allocation import (
    GLOBAL_KINDS,
    AllocationPolicy,
    AllocationRun,
    CareContract,
    Criterion,
    CriterionKind,
    FeeTable,
    Offer,
    RunOutcome,
)
from .views_backoffice import staff_required, youth_office_required
from .views_family import _family_of

# --- youth office: runs ------------------------------------------------------------------


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@youth_office_required
def runs(request):
    errors: dict = {}
    policy = AllocationPolicy.current()
    today = timezone.localdate()
    default_year = today.year + (1 if today.month >= policy.kita_year_start_month else 0)
    criteria = list(Criterion.objects.filter(active=True))
    if request.method == "POST":
        weights = {}
        for criterion in criteria:
            value = request.POST.get(f"weight_{criterion.pk}", "").strip()
            if value and value != str(criterion.points):
                weights[criterion.pk] = value
        try:
            run = allocation.start_run(
                request.user,
                kita_year=_int(request.POST.get("kita_year"), 0),
                age_groups=request.POST.getlist("age_groups"),
                binding=request.POST.get("binding") == "1",
                weights=weights,
                seed=_int(request.POST.get("seed")) if request.POST.get("seed") else None,
                label=request.POST.get("label", ""),
            )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Die Vergaberunde wurde gestartet."))
            return redirect("allocation-run", pk=run.pk)
    return render(
        request,
        "registrations/allocation/runs.html",
        {
            "runs": AllocationRun.objects.all()[:50],
            "errors": errors,
            "default_year": default_year,
            "criteria": criteria,
            "policy": policy,
            "age_groups": AgeGroup.choices,
        },
    )


@youth_office_required
def run_detail(request, pk: int):
    run = get_object_or_404(AllocationRun, pk=pk)
    replay = None
    if request.method == "POST" and request.POST.get("action") == "replay":
        identical, new_hash = allocation.replay_run(run)
        replay = {"identical": identical, "hash": new_hash}
    unplaced = (
        RunOutcome.objects.filter(run=run, facility__isnull=True, daycare_district__isnull=True)
        .select_related("child", "application")
        .order_by("pk")[:200]
        if run.status == "done"
        else []
    )
    return render(
        request,
        "registrations/allocation/run_detail.html",
        {
            "run": run,
            "replay": replay,
            "unplaced": [(o, explain(o)) for o in unplaced],
            "others": AllocationRun.objects.filter(status="done").exclude(pk=run.pk)[:20],
        },
    )


@youth_office_required
def run_status(request, pk: int):
    run = get_object_or_404(AllocationRun, pk=pk)
    return JsonResponse({"status": run.status, "progress": run.progress})


@youth_office_required
def run_compare(request):
    first = get_object_or_404(AllocationRun, pk=_int(request.GET.get("a"), 0), status="done")
    second = get_object_or_404(AllocationRun, pk=_int(request.GET.get("b"), 0), status="done")
    comparison = allocation.compare_runs(first, second)
    return render(
        request,
        "registrations/allocation/compare.html",
        {"first": first, "second": second, "c": comparison},
    )


# --- youth office: criteria and fee tables --------------------------------------------------


@youth_office_required
def criteria_edit(request):
    ensure_default_catalogue()
    errors = {}
    if request.method == "POST" and request.POST.get("action") == "add":
        from .criteria import add_criterion

        cutoff = request.POST.get("new_cutoff_date", "")
        try:
            add_criterion(
                request.user,
                kind=request.POST.get("new_kind", ""),
                title=request.POST.get("new_title", ""),
                explanation=request.POST.get("new_explanation", ""),
                title_en=request.POST.get("new_title_en", ""),
                explanation_en=request.POST.get("new_explanation_en", ""),
                points=_int(request.POST.get("new_points"), 999),
                carrier_id=_int(request.POST.get("new_carrier")),
                facility_id=_int(request.POST.get("new_facility")),
                cutoff_date=date.fromisoformat(cutoff) if cutoff else None,
            )
        except (ValidationError, ValueError) as exc:
            errors = getattr(
                exc, "message_dict", {"new_cutoff_date": [_("Bitte ein Datum angeben.")]}
            )
        else:
            messages.success(request, _("Das Kriterium wurde angelegt."))
            return redirect("allocation-criteria")
    elif request.method == "POST":
        try:
            allocation_edit_criteria(request)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Die Aufnahmekriterien wurden gespeichert."))
            return redirect("allocation-criteria")
    return render(
        request,
        "registrations/allocation/criteria_edit.html",
        {
            "criteria": Criterion.objects.select_related("carrier", "facility"),
            "errors": errors,
            "kinds": CriterionKind.choices,
            "policy": AllocationPolicy.current(),
            "carriers": Carrier.objects.order_by("name"),
            "facilities": Facility.objects.order_by("name").only("pk", "name"),
        },
    )


def allocation_edit_criteria(request) -> None:
    """Parse the criteria form and save atomically (points, active, texts; policy)."""
    from django.db import transaction

    from tenants.common.services import record_audit

    errors: dict[str, list[str]] = {}
    updates = []
    for criterion in Criterion.objects.all():
        points = _int(request.POST.get(f"points_{criterion.pk}"))
        if points is None or not -100 <= points <= 100:
            errors.setdefault(f"points_{criterion.pk}", []).append(
                _("Bitte eine ganze Zahl zwischen -100 und 100 angeben.")
            )
            continue
        criterion.points = points
        criterion.active = request.POST.get(f"active_{criterion.pk}") == "1"
        title = request.POST.get(f"title_{criterion.pk}", criterion.title).strip()
        explanation = request.POST.get(f"explanation_{criterion.pk}", criterion.explanation)
        if not title or not explanation.strip():
            errors.setdefault(f"title_{criterion.pk}", []).append(
                _("Bezeichnung und Erklärung dürfen nicht leer sein.")
            )
        criterion.title = title[:200]
        criterion.explanation = explanation.strip()[:2000]
        updates.append(criterion)
    policy = AllocationPolicy.current()
    offer_days = _int(request.POST.get("offer_days"), policy.offer_days)
    reminder_days = _int(request.POST.get("reminder_days"), policy.reminder_days)
    mode = request.POST.get("mode", policy.mode)
    if not 1 <= offer_days <= 60:
        errors.setdefault("offer_days", []).append(_("Die Frist muss 1 bis 60 Tage betragen."))
    if not 0 <= reminder_days < offer_days:
        errors.setdefault("reminder_days", []).append(
            _("Die Erinnerung muss vor dem Fristende liegen.")
        )
    if mode not in AllocationPolicy.Mode.values:
        errors.setdefault("mode", []).append(_("Unbekanntes Verfahren."))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for criterion in updates:
            criterion.save()
        policy.offer_days, policy.reminder_days, policy.mode = offer_days, reminder_days, mode
        policy.save()
        record_audit(request.user, "criteria.saved", None, count=len(updates))


@youth_office_required
def fee_tables(request):
    errors = {}
    form = {"name": "", "valid_from": "", "sibling_rule": "second_free", "fee_free_years": "2"}
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in (*form, "brackets")}
        try:
            valid_from = date.fromisoformat(form["valid_from"])
        except ValueError:
            errors = {"valid_from": [_("Bitte ein Datum angeben.")]}
        if not errors:
            try:
                fees.save_fee_table(
                    request.user,
                    name=form["name"],
                    valid_from=valid_from,
                    sibling_rule=form["sibling_rule"],
                    fee_free_years=_int(form["fee_free_years"], -1),
                    brackets=fees.parse_brackets(form["brackets"]),
                )
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                messages.success(request, _("Die Beitragstabelle wurde gespeichert."))
                return redirect("allocation-fees")
    return render(
        request,
        "registrations/allocation/fees.html",
        {
            "tables": FeeTable.objects.prefetch_related("brackets"),
            "errors": errors,
            "form": form,
            "sibling_rules": fees.SiblingRule.choices,
        },
    )


# --- youth office: statistics -------------------------------------------------------------------


def _stat_rows(request):
    return allocation.statistics(_int(request.GET.get("year")))


STAT_COLUMNS = (
    "district",
    "age_group",
    "places",
    "daycare_places",
    "applications",
    "placed",
    "unplaced",
    "unfilled",
    "placed_share",
    "population",
    "coverage",
)


def _stat_header():
    return [
        _("Bezirk"),
        _("Altersgruppe"),
        _("Plätze"),
        _("davon Kindertagespflege"),
        _("Voranmeldungen"),
        _("vermittelt"),
        _("ohne Platz"),
        _("unbesetzte Plätze"),
        _("Anteil vermittelt (%)"),
        _("Kinder im Alter (Bevölkerung)"),
        _("Versorgungsquote (%)"),
    ]


def coverage_notes() -> list[str]:
    """The formula and the meaning of a missing rate, for the page and the export."""
    return [
        _(
            "Versorgungsquote = Plätze der Altersgruppe (Kitas und Kindertagespflege im "
            "Bezirk) ÷ Kinder der Altersgruppe im Bezirk (Bevölkerung im Kita-Jahr) × 100. "
            "Für U3 ist das die U3-Versorgungsquote, mit der das Jugendamt den Ausbau plant."
        ),
        _(
            "„Anteil vermittelt“ = vermittelte Kinder ÷ Voranmeldungen der Altersgruppe in der "
            "Runde × 100; er sagt nichts über Kinder ohne Voranmeldung."
        ),
        _(
            "— bzw. leer: Für diesen Bezirk und dieses Kita-Jahr ist keine Bevölkerungszahl "
            "hinterlegt; das Jugendamt trägt sie unter „Kinder je Bezirk“ ein. Es wird keine "
            "Quote geschätzt."
        ),
    ]


@youth_office_required
def statistics(request):
    rows = _stat_rows(request)
    peak = max([max(r["places"], r["applications"]) for r in rows if not r.get("total")] + [1])
    return render(
        request,
        "registrations/allocation/statistics.html",
        {
            "rows": rows,
            "peak": peak,
            "header": _stat_header(),
            "year": request.GET.get("year", ""),
            "kita_year": rows[0]["kita_year"] if rows else None,
            "notes": coverage_notes(),
        },
    )


@youth_office_required
def statistics_export(request, fmt: str):
    rows = _stat_rows(request)
    body = [[row[c] if row[c] is not None else "" for c in STAT_COLUMNS] for row in rows]
    if rows:
        body.append([])
        year = rows[0]["kita_year"]
        body.append([_("Kita-Jahr %(year)s") % {"year": f"{year}/{str(year + 1)[-2:]}"}])
        body.extend([note] for note in coverage_notes())
    return table_download(
        fmt, _stat_header(), body, "platzvergabe-statistik", sheet_title=_("Statistik")
    )


# --- staff: offers and contracts -------------------------------------------------------------


@staff_required
def staff_offers(request):
    facilities = services.visible_facilities(request.user)
    offers = list(
        Offer.objects.filter(facility__in=facilities)
        .select_related("facility", "child", "application__fee_declaration", "contract")
        .order_by("facility__name", "-created_at")[:500]
    )
    _describe_fees(offers)
    policy = AllocationPolicy.current()
    candidates = []
    if policy.mode == AllocationPolicy.Mode.DECENTRAL:
        candidates = (
            Wish.objects.filter(
                facility__in=facilities,
                status__in=("received", "in_review"),
                application__status="active",
            )
            .select_related("facility", "application")
            .prefetch_related("application__children")
            .order_by("facility__name", "rank", "application__created_at")[:300]
        )
    return render(
        request,
        "registrations/allocation/staff_offers.html",
        {"offers": offers, "candidates": candidates, "policy": policy},
    )


@staff_required
@require_POST
def staff_make_offer(request, wish_id: int):
    facilities = services.visible_facilities(request.user)
    wish = get_object_or_404(Wish, pk=wish_id, facility__in=facilities)
    child = get_object_or_404(wish.application.children, pk=_int(request.POST.get("child"), 0))
    try:
        allocation.make_facility_offer(request.user, wish, child)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Das Angebot wurde verschickt."))
    return redirect("allocation-staff-offers")


@staff_required
@require_POST
def staff_countersign(request, pk: int):
    facilities = services.visible_facilities(request.user)
    contract = get_object_or_404(CareContract, pk=pk, offer__facility__in=facilities)
    if request.user.role not in (
        Role.CARRIER_STAFF,
        Role.FACILITY_STAFF,
        Role.YOUTH_OFFICE,
        Role.TENANT_ADMIN,
    ):
        raise Http404
    try:
        contracts.advance_contract(request.user, contract, CareContract.Status.COUNTERSIGNED)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("allocation-staff-offers")


@staff_required
def staff_contract_pdf(request, pk: int):
    facilities = services.visible_facilities(request.user)
    contract = get_object_or_404(CareContract, pk=pk, offer__facility__in=facilities)
    return _pdf_response(contract)


def _describe_fees(offers) -> None:
    """Each offer's ``fee_described``: the family's income-bracket declaration in words."""
    from .services_fees import describe

    for offer in offers:
        offer.fee_described = describe(getattr(offer.application, "fee_declaration", None))


def _pdf_response(contract: CareContract) -> HttpResponse:
    response = HttpResponse(bytes(contract.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{contract.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- families -------------------------------------------------------------------------------


def _own_offer(request, pk: int) -> Offer:
    family = _family_of(request.user)
    if family is None:
        raise Http404
    return get_object_or_404(Offer, pk=pk, application__family=family)


@login_required
def family_offers(request):
    family = _family_of(request.user)
    if family is None:
        offers, outcomes = [], []
    else:
        offers = allocation.offers_for_family(family)
        _describe_fees(offers)
        latest = {}
        for outcome in (
            RunOutcome.objects.filter(
                application__family=family, run__binding=True, run__status="done"
            )
            .select_related("child", "facility", "run")
            .order_by("child_id", "-run_id")
        ):
            latest.setdefault(outcome.child_id, outcome)
        outcomes = [(o, explain(o)) for o in latest.values()]
    return render(
        request,
        "registrations/allocation/family_offers.html",
        {"offers": offers, "outcomes": outcomes, "now": timezone.now()},
    )


@login_required
@require_POST
def family_offer_answer(request, pk: int, answer: str):
    offer = _own_offer(request, pk)
    try:
        if answer == "annehmen":
            allocation.accept_offer(request.user, offer)
            messages.success(
                request, _("Sie haben den Platz angenommen. Der Betreuungsvertrag liegt bereit.")
            )
        elif answer == "ablehnen":
            allocation.decline_offer(request.user, offer)
            messages.success(request, _("Sie haben das Angebot abgelehnt."))
        else:
            raise Http404
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("family-offers")


@login_required
def family_contract_pdf(request, pk: int):
    offer = _own_offer(request, pk)
    contract = get_object_or_404(CareContract, offer=offer)
    return _pdf_response(contract)


@login_required
@require_POST
def family_contract_signed(request, pk: int):
    offer = _own_offer(request, pk)
    contract = get_object_or_404(CareContract, offer=offer)
    try:
        contracts.advance_contract(request.user, contract, CareContract.Status.SIGNED)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("family-offers")


# --- public pages ---------------------------------------------------------------------------


def criteria_page(request):
    criteria = list(Criterion.objects.filter(active=True).select_related("carrier", "facility"))
    return render(
        request,
        "registrations/allocation/criteria_public.html",
        {
            "global_criteria": [c for c in criteria if c.kind in GLOBAL_KINDS],
            "local_criteria": [c for c in criteria if c.kind not in GLOBAL_KINDS],
            "tie_break": [_(step) for step in TIE_BREAK_CHAIN],
            "policy": AllocationPolicy.current(),
        },
    )


def fee_calculator(request):
    quote, errors = None, []
    values = {
        k: request.GET.get(k, "")
        for k in ("income", "birth_date", "start_date", "care_hours", "sibling")
    }
    if request.GET.get("income") is not None and "income" in request.GET:
        try:
            income = Decimal(values["income"].replace(".", "").replace(",", ".") or "x")
            birth = date.fromisoformat(values["birth_date"])
            start = date.fromisoformat(values["start_date"])
            hours = int(values["care_hours"])
            if hours not in CareHours.values or income < 0:
                raise ValueError
        except (InvalidOperation, ValueError):
            errors.append(
                _("Bitte füllen Sie alle Felder aus: Einkommen, Geburtsdatum, Beginn und Stunden.")
            )
        else:
            try:
                quote = fees.calculate_fee(
                    day=start,
                    income=income,
                    age_group=services.age_group_at(birth, start),
                    care_hours=hours,
                    birth_date=birth,
                    sibling_position=2 if values["sibling"] == "1" else 1,
                )
            except fees.NoFeeTable:
                errors.append(
                    _("Für diesen Betreuungsbeginn ist noch keine Beitragstabelle hinterlegt.")
                )
    if request.GET.get("format") == "json":
        if quote is None:
            return JsonResponse(
                {
                    "errors": errors
                    or [
                        _(
                            "Bitte füllen Sie alle Felder aus: Einkommen, Geburtsdatum, "
                            "Beginn und Stunden."
                        )
                    ]
                },
                status=400,
            )
        text = _("Monatsbeitrag: %(amount)s €") % {
            "amount": f"{quote.amount:.2f}".replace(".", ",")
        }
        return JsonResponse(
            {
                "amount": str(quote.amount),
                "note": quote.note,
                "table": quote.table.name,
                "text": f"{text} ({quote.note})",
            }
        )
    return render(
        request,
        "registrations/allocation/fee_calculator.html",
        {"quote": quote, "errors": errors, "values": values, "hours": CareHours.choices},
    )


__all__ = ["Facility"]


# --- circumstances (what the criteria look at) -------------------------------------------------


def _circumstances_page(request, application, *, office: bool):
    from .criteria import circumstances_of
    from .models_allocation import CriterionKind

    info = circumstances_of(application)
    errors = {}
    if request.method == "POST":
        try:
            allocation.set_circumstances(
                request.user,
                application,
                both_working=request.POST.get("both_working") == "1",
                single_parent=request.POST.get("single_parent") == "1",
                resident=request.POST.get("resident") == "1",
                sibling_facility_ids=[
                    int(v) for v in request.POST.getlist("sibling_facilities") if v.isdigit()
                ],
                carrier_rule_ids=[
                    int(v) for v in request.POST.getlist("carrier_rules") if v.isdigit()
                ],
                hardship=(request.POST.get("hardship") == "1") if office else None,
                verified=office and request.POST.get("verified") == "1",
            )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Die Angaben wurden gespeichert."))
            return redirect(request.path)
    return render(
        request,
        "registrations/allocation/circumstances.html",
        {
            "application": application,
            "info": info,
            "siblings": set(info.sibling_facilities.values_list("pk", flat=True))
            if info.pk
            else set(),
            "rules_chosen": set(info.carrier_rules.values_list("pk", flat=True))
            if info.pk
            else set(),
            "facilities": Facility.objects.order_by("name").only("pk", "name"),
            "rules": Criterion.objects.filter(kind=CriterionKind.CARRIER_RULE, active=True),
            "office": office,
            "errors": errors,
            "fee_described": _fee_described(application) if office else "",
        },
    )


def _fee_described(application) -> str:
    from .models_family_data import FeeDeclaration
    from .services_fees import describe

    return describe(FeeDeclaration.objects.filter(application=application).first())


@login_required
def family_circumstances(request, reference: str):
    from .views_family import _own_application

    return _circumstances_page(request, _own_application(request, reference), office=False)


@youth_office_required
def office_circumstances(request, reference: str):
    from .models import Application

    application = get_object_or_404(Application, reference=reference)
    return _circumstances_page(request, application, office=True)


# --- contract templates (per carrier) ----------------------------------------------------------


@staff_required
def contract_template(request):
    """Carrier staff edit their carrier's template; the youth office the default one and,
    with ?traeger=<id>, any carrier's."""
    from .models import Carrier

    role = request.user.role
    carrier = None
    if role == Role.CARRIER_STAFF:
        assignment = getattr(request.user, "staff_assignment", None)
        if assignment is None or not assignment.carrier_id:
            raise Http404
        carrier = assignment.carrier
    elif role in (Role.YOUTH_OFFICE, Role.TENANT_ADMIN):
        if request.GET.get("traeger"):
            carrier = get_object_or_404(Carrier, pk=_int(request.GET.get("traeger"), 0))
    else:
        raise Http404
    current = contracts.template_for(carrier)
    own = current if current.carrier_id == (carrier.pk if carrier else None) else None
    errors = {}
    values = {"title": current.title, "clauses": current.clauses}
    if request.method == "POST":
        values = {
            "title": request.POST.get("title", ""),
            "clauses": request.POST.get("clauses", ""),
        }
        try:
            contracts.save_template(request.user, carrier, **values)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Die Vertragsvorlage wurde gespeichert."))
            return redirect(request.get_full_path())
    return render(
        request,
        "registrations/allocation/contract_template.html",
        {
            "carrier": carrier,
            "inherited": own is None,
            "values": values,
            "errors": errors,
            "carriers": Carrier.objects.order_by("name")
            if role in (Role.YOUTH_OFFICE, Role.TENANT_ADMIN)
            else [],
        },
    )


# --- free places per category ------------------------------------------------------------------


@staff_required
def capacity_edit(request, slug: str):
    """Free places of one Kita per age group × care hours for a Kita year (staff in scope)."""
    from .allocation_db import capacities
    from .models_allocation import PlaceCapacity

    facility = get_object_or_404(services.visible_facilities(request.user), slug=slug)
    policy = AllocationPolicy.current()
    today = timezone.localdate()
    default_year = today.year + (1 if today.month >= policy.kita_year_start_month else 0)
    year = _int(request.GET.get("jahr"), default_year)
    cells = [(age, hours) for age in AgeGroup.values for hours in sorted(facility.care_hours)]
    errors = {}
    if request.method == "POST":
        values = {}
        for age, hours in cells:
            raw = request.POST.get(f"{age}_{hours}", "").strip()
            values[(age, hours)] = None if raw == "" else _int(raw, -1)
        try:
            allocation.set_capacities(request.user, facility, year, values)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Die freien Plätze wurden gespeichert."))
            return redirect(f"{request.path}?jahr={year}")
    explicit = {
        (row.age_group, row.care_hours): row.places
        for row in PlaceCapacity.objects.filter(facility=facility, kita_year=year)
    }
    effective = capacities(year).get(facility.pk, {})
    rows = [
        {
            "key": f"{age}_{hours}",
            "age": age,
            "hours": hours,
            "explicit": explicit.get((age, hours), ""),
            "effective": effective.get((age, hours), 0),
        }
        for age, hours in cells
    ]
    return render(
        request,
        "registrations/allocation/capacities.html",
        {"facility": facility, "year": year, "rows": rows, "errors": errors},
    )
