"""Municipality host: the youth office's/carriers' agreement pages and the parent's code page.

Scopes: youth office and tenant admin see every agreement of this municipality, carrier staff
those of their carrier's facilities; anyone else gets a 404, as does an object of another
tenant or outside the scope.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from employer_quota.agreements import services as agreements
from employer_quota.agreements.forms import TermsForm
from employer_quota.agreements.models import Agreement, PlaceRequest
from registrations.models import Application
from registrations.services import visible_facilities
from registrations.views_backoffice import roles_required
from tenants.accounts.models import Role
from tenants.models import Tenant, TenantType

from . import services
from .models import EmployerEligibility

agreement_staff_required = roles_required(Role.YOUTH_OFFICE, Role.TENANT_ADMIN, Role.CARRIER_STAFF)
youth_office_required = roles_required(Role.YOUTH_OFFICE, Role.TENANT_ADMIN)


def _visible_carriers(user):
    from registrations.models import Carrier

    if user.role in (Role.YOUTH_OFFICE, Role.TENANT_ADMIN):
        return Carrier.objects.all()
    assignment = getattr(user, "staff_assignment", None)
    if user.role == Role.CARRIER_STAFF and assignment is not None and assignment.carrier_id:
        return Carrier.objects.filter(pk=assignment.carrier_id)
    return Carrier.objects.none()


def _visible_agreements(user):
    facility_ids = list(visible_facilities(user).values_list("pk", flat=True))
    carrier_ids = list(_visible_carriers(user).values_list("pk", flat=True))
    return (
        Agreement.objects.filter(municipality=connection.tenant)
        .filter(Q(facility_id__in=facility_ids) | Q(carrier_id__in=carrier_ids))
        .select_related("employer", "current")
        .prefetch_related("versions")
    )


def _employers():
    return Tenant.objects.filter(type=TenantType.EMPLOYER, is_active=True, is_template=False)


class ProposeForm(TermsForm):
    employer = forms.ModelChoiceField(
        label=gettext_lazy("Arbeitgeber"), queryset=Tenant.objects.none()
    )
    facility = forms.ModelChoiceField(label=gettext_lazy("Kita"), queryset=None, required=False)
    carrier = forms.ModelChoiceField(
        label=gettext_lazy("oder alle Kitas eines Trägers"),
        queryset=None,
        required=False,
        help_text=gettext_lazy(
            "Bei einem Träger gelten die Plätze in jeder seiner Kitas; im Vergabelauf sind die "
            "beanspruchten Plätze in der jeweils gewünschten Kita reserviert."
        ),
    )

    field_order = ["employer", "facility", "carrier"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["employer"].queryset = _employers()
        self.fields["facility"].queryset = visible_facilities(user).only("pk", "name")
        self.fields["carrier"].queryset = _visible_carriers(user)
        self.order_fields(self.field_order)

    def clean(self):
        data = super().clean()
        if bool(data.get("facility")) == bool(data.get("carrier")):
            self.add_error("facility", _("Bitte wählen Sie entweder eine Kita oder einen Träger."))
        return data


@agreement_staff_required
def agreement_list(request):
    rows = []
    year = agreements.current_kita_year() + 1  # the Kita year being planned
    for agreement in _visible_agreements(request.user):
        rows.append({"agreement": agreement, "occupancy": agreements.occupancy(agreement, year)})
    is_youth_office = request.user.role in (Role.YOUTH_OFFICE, Role.TENANT_ADMIN)
    context = {
        "rows": rows,
        "kita_year": year,
        "place_requests": PlaceRequest.objects.filter(
            municipality=connection.tenant
        ).select_related("employer"),
        "is_youth_office": is_youth_office,
        "eligible_counts": (
            EmployerEligibility.objects.values("employer_name")
            .annotate(n=Count("pk"))
            .order_by("employer_name")
            if is_youth_office
            else []
        ),
    }
    return render(request, "employer_municipal/agreement_list.html", context)


@agreement_staff_required
def agreement_new(request):
    place_request = None
    initial = {}
    if request.GET.get("anfrage"):
        place_request = get_object_or_404(
            PlaceRequest,
            pk=request.GET["anfrage"] if request.GET["anfrage"].isdigit() else 0,
            municipality=connection.tenant,
        )
        initial = {
            "employer": place_request.employer_id,
            "age_group": "U3" if place_request.u3_places else "UE3",
            "places": place_request.u3_places or place_request.ue3_places,
            "care_hours": place_request.care_hours,
            "valid_from": place_request.wanted_from,
        }
    form = ProposeForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        facility, carrier = form.cleaned_data["facility"], form.cleaned_data["carrier"]
        try:
            agreement = agreements.propose_agreement(
                request.user,
                municipality=connection.tenant,
                employer=form.cleaned_data["employer"],
                facility_id=facility.pk if facility else None,
                carrier_id=carrier.pk if carrier else None,
                facility_name=facility.name
                if facility
                else _("alle Kitas von %(carrier)s") % {"carrier": carrier.name},
                terms=form.terms(),
            )
            if place_request is not None and place_request.status == PlaceRequest.Status.OPEN:
                agreements.answer_place_request(
                    request.user, place_request, PlaceRequest.Status.PROPOSED
                )
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, _("Die Vereinbarung wurde dem Arbeitgeber vorgeschlagen."))
            return redirect("agreement-detail", pk=agreement.pk)
    return render(
        request,
        "employer_municipal/agreement_new.html",
        {"form": form, "place_request": place_request},
    )


@agreement_staff_required
def agreement_detail(request, pk: int):
    agreement = get_object_or_404(_visible_agreements(request.user), pk=pk)
    form = None
    if agreement.status == Agreement.Status.ACTIVE:
        form = TermsForm(
            request.POST if request.POST.get("action") == "change" else None,
            initial=TermsForm.initial_from(agreement.current),
        )
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "change" and form is not None and form.is_valid():
                agreements.propose_change(request.user, agreement, form.terms())
                messages.success(request, _("Die Änderung wurde dem Arbeitgeber vorgeschlagen."))
                return redirect("agreement-detail", pk=agreement.pk)
            if action == "withdraw":
                agreements.withdraw_proposal(request.user, agreement)
                messages.success(request, _("Der Vorschlag wurde zurückgezogen."))
                return redirect("agreement-detail", pk=agreement.pk)
            if action == "end":
                agreements.end_agreement(request.user, agreement)
                messages.success(request, _("Die Vereinbarung wurde beendet."))
                return redirect("agreement-detail", pk=agreement.pk)
        except ValidationError as exc:
            if form is not None and hasattr(exc, "error_dict"):
                form.add_service_errors(exc.message_dict)
            else:
                for message in exc.messages:
                    messages.error(request, message)
    years = agreement.current.kita_years() if agreement.current else []
    return render(
        request,
        "employer_municipal/agreement_detail.html",
        {
            "agreement": agreement,
            "versions": agreement.versions.all(),
            "occupancy": [(year, agreements.occupancy(agreement, year)) for year in years],
            "form": form,
        },
    )


@agreement_staff_required
@require_POST
def place_request_decline(request, pk: int):
    place_request = get_object_or_404(
        PlaceRequest, pk=pk, municipality=connection.tenant, status=PlaceRequest.Status.OPEN
    )
    agreements.answer_place_request(request.user, place_request, PlaceRequest.Status.DECLINED)
    messages.success(request, _("Die Anfrage wurde abgelehnt."))
    return redirect("agreement-list")


@youth_office_required
def eligible_applications(request):
    rows = EmployerEligibility.objects.select_related("application").order_by(
        "employer_name", "application__reference"
    )
    return render(request, "employer_municipal/eligible.html", {"rows": rows})


# --- Parents --------------------------------------------------------------------------------


class RedeemForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code Ihres Arbeitgebers"),
        max_length=20,
        help_text=gettext_lazy("z. B. ABCD-EFGH-JKLM"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    share_status = forms.BooleanField(
        label=gettext_lazy(
            "Ich bin einverstanden, dass mein Arbeitgeber den Stand dieser Voranmeldung sieht "
            "(eingegangen, Angebot, angenommen, Vertrag, zurückgezogen). Ohne Einwilligung sieht "
            "er nur Zahlen. Ich kann die Einwilligung jederzeit widerrufen."
        ),
        required=False,
    )


def _own_application(user, reference: str) -> Application:
    application = (
        Application.objects.filter(reference=reference, family__guardians__user=user)
        .distinct()
        .first()
    )
    if application is None:
        raise Http404
    return application


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


@login_required
def redeem(request, reference: str):
    if request.user.role != Role.PARENT:
        raise Http404
    application = _own_application(request.user, reference)
    form = RedeemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            eligibility = services.redeem_code(
                request.user,
                application,
                form.cleaned_data["code"],
                share_status=form.cleaned_data["share_status"],
                address=_client_address(request),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error("code" if field not in form.fields else field, error)
        else:
            messages.success(
                request,
                _(
                    "Der Code ist eingelöst: Ihre Voranmeldung ist für Belegplätze von "
                    "%(name)s berechtigt."
                )
                % {"name": eligibility.employer_name},
            )
            return redirect("employer-code", reference=application.reference)
    return render(
        request,
        "employer_municipal/redeem.html",
        {
            "application": application,
            "form": form,
            "eligibilities": application.employer_eligibilities.all(),
        },
    )


@login_required
@require_POST
def consent(request, reference: str, pk: int):
    if request.user.role != Role.PARENT:
        raise Http404
    application = _own_application(request.user, reference)
    eligibility = get_object_or_404(EmployerEligibility, pk=pk, application=application)
    share = request.POST.get("share") == "1"
    services.set_status_sharing(request.user, eligibility, share)
    messages.success(
        request,
        _("Ihr Arbeitgeber sieht jetzt den Stand dieser Voranmeldung.")
        if share
        else _("Ihr Arbeitgeber sieht den Stand dieser Voranmeldung nicht mehr."),
    )
    return redirect("employer-code", reference=application.reference)
