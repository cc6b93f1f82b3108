"""Parents' pages: sign-up and verification, pre-registration, "Meine Anmeldungen"."""

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants.accounts import services as account_services
from tenants.common.models import OutboxMessage

from . import services
from .forms import MAX_CHILDREN, ApplicationForm, SignupForm
from .models import Application, Guardian, PortalSettings


def signup(request):
    form = SignupForm(request.POST or None, initial={"language": request.LANGUAGE_CODE})
    if request.method == "POST" and form.is_valid():
        try:
            account_services.register_parent(
                **form.cleaned_data, base_url=request.build_absolute_uri("/")
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field, error)
        else:
            return render(
                request, "registrations/signup_done.html", {"email": form.cleaned_data["email"]}
            )
    return render(request, "registrations/signup.html", {"form": form})


def verify_email(request, uidb64: str, token: str):
    user = account_services.verify_email(uidb64, token)
    if user is None:
        return render(request, "registrations/verify_failed.html", status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, _("Ihre E-Mail-Adresse ist bestätigt. Willkommen!"))
    return redirect("apply")


def _family_of(user):
    guardian = Guardian.objects.filter(user=user).select_related("family").first()
    return guardian.family if guardian else None


def _input_from(form: ApplicationForm) -> services.ApplicationInput:
    data = form.cleaned_data
    children = [
        services.ChildInput(
            data[f"child_{i}_first_name"],
            data[f"child_{i}_last_name"],
            data[f"child_{i}_birth_date"],
            data[f"child_{i}_expected"],
        )
        for i in range(MAX_CHILDREN)
        if data.get(f"child_{i}_first_name") and data.get(f"child_{i}_birth_date")
    ]
    guardians = [
        services.GuardianInput(
            data["guardian_first_name"],
            data["guardian_last_name"],
            data["guardian_email"],
            data["guardian_phone"],
        )
    ]
    if data.get("guardian2_first_name") and data.get("guardian2_email"):
        guardians.append(
            services.GuardianInput(
                data["guardian2_first_name"], data["guardian2_last_name"], data["guardian2_email"]
            )
        )
    wishes = [data[f"wish_{r}"] for r in range(1, form.max_wishes + 1) if data.get(f"wish_{r}")]
    return services.ApplicationInput(
        children=children,
        guardians=guardians,
        start_date=data["start_date"],
        care_hours=data["care_hours"],
        street=data["street"],
        postcode=data["postcode"],
        district_id=data["district"],
        facility_ids=wishes,
        wants_family_daycare=data["wants_family_daycare"],
        family_daycare_district_id=data.get("family_daycare_district"),
        place_together=data["place_together"],
        notes=data["notes"],
        idempotency_key=data["idempotency_key"],
    )


@login_required
def apply(request):
    policy = PortalSettings.current()
    user = request.user
    initial = {
        "guardian_first_name": user.first_name,
        "guardian_last_name": user.last_name,
        "guardian_email": user.email,
    }
    if request.GET.get("kita"):
        initial["wish_1"] = request.GET["kita"]
    form = ApplicationForm(request.POST or None, initial=initial, max_wishes=policy.max_wishes)
    if request.method == "POST" and form.is_valid():
        try:
            application = services.submit_application(
                user, _input_from(form), family=_family_of(user)
            )
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            return redirect("application-confirmation", reference=application.reference)
    return render(request, "registrations/apply.html", {"form": form, "policy": policy})


def _own_application(request, reference: str) -> Application:
    family = _family_of(request.user)
    application = (
        Application.objects.filter(family=family, reference=reference).first() if family else None
    )
    if application is None:
        raise Http404
    return application


@login_required
def confirmation(request, reference: str):
    application = _own_application(request, reference)
    return render(request, "registrations/confirmation.html", {"application": application})


@login_required
def my_applications(request):
    family = _family_of(request.user)
    applications = (
        Application.objects.filter(family=family)
        .select_related("district", "daycare_request__district")
        .prefetch_related("children", "wishes__facility", "events")
        if family
        else Application.objects.none()
    )
    return render(
        request,
        "registrations/my_applications.html",
        {
            "applications": applications,
            "policy": PortalSettings.current(),
            "care_hour_options": [25, 35, 45],
        },
    )


@login_required
@require_POST
def change_application(request, reference: str):
    application = _own_application(request, reference)
    action = request.POST.get("action", "")
    try:
        if action in ("up", "down"):
            ids = list(application.wishes.order_by("rank").values_list("facility_id", flat=True))
            facility_id = int(request.POST.get("facility", "0"))
            if facility_id not in ids:
                raise Http404
            index = ids.index(facility_id)
            other = index - 1 if action == "up" else index + 1
            if 0 <= other < len(ids):
                ids[index], ids[other] = ids[other], ids[index]
                services.set_wish_order(request.user, application, ids)
        elif action == "withdraw_wish":
            services.withdraw_wish(request.user, application, int(request.POST.get("facility", 0)))
        elif action == "withdraw":
            services.withdraw_application(request.user, application)
        elif action == "change_start":
            services.change_start_and_hours(
                request.user,
                application,
                date.fromisoformat(request.POST.get("start_date", "")),
                int(request.POST.get("care_hours", "0")),
            )
        else:
            raise Http404
    except (ValueError, TypeError):
        messages.error(
            request, _("Bitte geben Sie ein gültiges Datum und einen Betreuungsumfang an.")
        )
        return redirect("my-applications")
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Ihre Änderung ist gespeichert. Sie erhalten eine E-Mail."))
    return redirect("my-applications")


def demo_mailbox(request):
    """Demo mode only: the emails this portal has sent, so the demo can be tried end to end."""
    if not settings.DEMO_MODE:
        raise Http404
    mails = OutboxMessage.objects.order_by("-created_at")[:50]
    return render(request, "registrations/mailbox.html", {"mails": mails})
