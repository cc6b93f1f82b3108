"""The platform host: the public site, sign-up steps and the Stripe webhook."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from kitaportal.forms import apply_service_errors

from integrations import stripe as stripe_api
from tenants.models import Tenant, TenantType

from . import services
from .forms import PlanForm, StartForm, SubdomainForm
from .models import SignupApplication

logger = logging.getLogger(__name__)
Status = SignupApplication.Status


def _base_url(request) -> str:
    return f"{request.scheme}://{request.get_host()}"


SIGNUP_STEPS = [
    ("start", _lazy("Art und Kontakt")),
    ("verify", _lazy("E-Mail bestätigen")),
    ("subdomain", _lazy("Subdomain")),
    ("plan", _lazy("Tarif")),
    ("pay", _lazy("Bezahlen")),
]


def _render(request, template: str, context: dict | None = None, status: int = 200):
    return render(
        request, template, {"signup_steps": SIGNUP_STEPS, **(context or {})}, status=status
    )


@require_GET
def home(request):
    demo = Tenant.objects.filter(
        slug=settings.DEMO_TENANT_SLUG, is_active=True, is_template=False
    ).first()
    return render(
        request,
        "billing/home.html",
        {
            "municipality_plans": services.plans_for(TenantType.MUNICIPALITY),
            "employer_plans": services.plans_for(TenantType.EMPLOYER),
            "demo": demo,
        },
    )


@require_http_methods(["GET", "POST"])
def signup_start(request):
    form = StartForm(request.POST or None, initial={"tenant_type": request.GET.get("art")})
    if request.method == "POST" and form.is_valid():
        try:
            application = services.start_signup(
                language=translation.get_language() or "de",
                base_url=_base_url(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            request.session["signup_id"] = str(application.pk)
            return redirect("billing:signup-sent")
    return _render(request, "billing/signup_start.html", {"form": form})


@require_GET
def signup_sent(request):
    return _render(request, "billing/signup_sent.html")


@require_GET
def signup_verify(request, token: str):
    try:
        application = services.verify_signup_email(token)
    except ValidationError as exc:
        return _render(
            request, "billing/signup_invalid.html", {"error": exc.messages[0]}, status=400
        )
    request.session["signup_id"] = str(application.pk)
    if application.status in (Status.VERIFIED, Status.AWAITING_PAYMENT):
        return redirect("billing:signup-subdomain", application.pk)
    return redirect("billing:signup-progress", application.pk)


def _application(request, pk) -> SignupApplication:
    """The sign-up of this browser session only (the id alone opens nothing)."""
    if request.session.get("signup_id") != str(pk):
        raise Http404
    application = SignupApplication.objects.select_related("plan").filter(pk=pk).first()
    if application is None:
        raise Http404
    return application


def _open_application(request, pk):
    application = _application(request, pk)
    if application.status not in (Status.VERIFIED, Status.AWAITING_PAYMENT):
        return application, redirect("billing:signup-progress", application.pk)
    return application, None


@require_http_methods(["GET", "POST"])
def signup_subdomain(request, pk):
    application, done = _open_application(request, pk)
    if done:
        return done
    form = SubdomainForm(request.POST or None, initial={"slug": application.slug})
    if request.method == "POST" and form.is_valid():
        try:
            services.choose_subdomain(application, form.cleaned_data["slug"])
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("billing:signup-plan", application.pk)
    return _render(
        request,
        "billing/signup_subdomain.html",
        {"form": form, "application": application, "base_domain": settings.BASE_DOMAIN},
    )


@require_GET
def subdomain_check(request):
    slug = (request.GET.get("slug") or "").strip().lower()
    exclude = None
    signup_id = request.session.get("signup_id")
    if signup_id:
        exclude = SignupApplication.objects.filter(pk=signup_id).first()
    problem = services.check_subdomain(slug, exclude=exclude)
    return JsonResponse(
        {
            "slug": slug,
            "available": problem is None,
            "message": problem
            or _("%(host)s ist frei.") % {"host": f"{slug}.{settings.BASE_DOMAIN}"},
        }
    )


@require_http_methods(["GET", "POST"])
def signup_plan(request, pk):
    application, done = _open_application(request, pk)
    if done:
        return done
    if not application.slug:
        return redirect("billing:signup-subdomain", application.pk)
    plans = list(services.plans_for(application.tenant_type))
    initial = {
        "plan": application.plan.code if application.plan else None,
        "payment_route": application.payment_route or "checkout",
        "leitweg_id": application.leitweg_id,
        "billing_street": application.billing_street,
        "billing_postcode": application.billing_postcode,
        "billing_city": application.billing_city,
    }
    form = PlanForm(request.POST or None, plans=plans, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.choose_plan(application, plan_code=data.pop("plan"), **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("billing:signup-pay", application.pk)
    return _render(
        request,
        "billing/signup_plan.html",
        {"form": form, "application": application, "plans": plans},
    )


@require_http_methods(["GET", "POST"])
def signup_pay(request, pk):
    application, done = _open_application(request, pk)
    if done:
        return done
    if application.plan is None or not application.slug:
        return redirect("billing:signup-plan", application.pk)
    error = None
    if request.method == "POST":
        progress = _base_url(request) + reverse("billing:signup-progress", args=[application.pk])
        try:
            url = services.start_payment(
                application,
                success_url=progress + "?session_id={CHECKOUT_SESSION_ID}",
                cancel_url=_base_url(request)
                + reverse("billing:signup-pay", args=[application.pk]),
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except stripe_api.StripeError:
            error = _(
                "Der Zahlungsdienst ist gerade nicht erreichbar. Bitte versuchen Sie es in "
                "einigen Minuten erneut."
            )
        else:
            return redirect(url or progress)
    return _render(
        request,
        "billing/signup_pay.html",
        {"application": application, "error": error, "base_domain": settings.BASE_DOMAIN},
        status=400 if error else 200,
    )


PROGRESS_STEPS = [
    ("confirmed", _lazy("Zahlung bzw. Rechnungsvereinbarung bestätigt")),
    ("provisioning", _lazy("Portal wird eingerichtet")),
    ("ready", _lazy("Administration eingeladen – Ihr Portal ist bereit")),
]


def _progress(application: SignupApplication) -> dict:
    order = {
        Status.AWAITING_PAYMENT: 0,
        Status.CONFIRMED: 1,
        Status.PROVISIONING: 2,
        Status.FAILED: 2,
        Status.READY: 3,
    }
    reached = order.get(application.status, 0)
    return {
        "status": application.status,
        "status_label": str(application.get_status_display()),
        "steps": [
            {"key": key, "label": str(label), "done": index < reached}
            for index, (key, label) in enumerate(PROGRESS_STEPS)
        ],
        "ready": application.status == Status.READY,
        "portal_url": application.tenant.portal_url if application.tenant_id else None,
        "retrying": application.status == Status.FAILED,
    }


@require_GET
def signup_progress(request, pk):
    application = _application(request, pk)
    session_id = request.GET.get("session_id")
    if session_id:
        try:
            application = services.confirm_from_success_redirect(application, session_id)
        except stripe_api.StripeError:
            pass  # the webhook confirms it as well
    application = SignupApplication.objects.select_related("tenant").get(pk=application.pk)
    progress = _progress(application)
    if request.GET.get("format") == "json":
        return JsonResponse(progress)
    return render(request, "billing/signup_progress.html", {"application": application, **progress})


@csrf_exempt
@require_POST
def stripe_webhook(request):
    try:
        outcome, _record = services.process_webhook(
            request.body, request.headers.get("Stripe-Signature", "")
        )
    except stripe_api.SignatureError as exc:
        logger.warning("stripe webhook rejected: %s", exc)
        return HttpResponseBadRequest("invalid signature")
    except stripe_api.ApiVersionMismatch as exc:
        # Stripe retries: set the endpoint's API version to integrations.stripe.API_VERSION
        logger.error("stripe webhook rejected: %s", exc)
        return HttpResponseBadRequest("unexpected api version")
    return HttpResponse(outcome, content_type="text/plain")
