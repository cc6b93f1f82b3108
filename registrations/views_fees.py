"""The family's income-bracket declaration for the parent fee
(``/meine-anmeldungen/<ref>/elternbeitrag/``). Parses the choice and calls
``services_fees``; another family's application is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from . import services_fees
from .fees import NoFeeTable, fee_table_on
from .models_family_data import FeeDeclaration
from .views_family import _own_application


@login_required
def family_fee_declaration(request, reference: str):
    application = _own_application(request, reference)
    errors: dict = {}
    declaration = FeeDeclaration.objects.filter(application=application).first()
    chosen = services_fees.choice_of(declaration)
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if request.method == "POST":
        chosen = request.POST.get("bracket", "")
        try:
            services_fees.declare_fee_bracket(request.user, application, chosen)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Ihre Angabe zum Elternbeitrag wurde gespeichert."))
            return redirect(back or request.path)
    try:
        table = fee_table_on(application.start_date)
    except NoFeeTable:
        table = None
    options = services_fees.bracket_options_cached(table) if table is not None else []
    quotes = services_fees.quotes_for(application, table) if table is not None else {}
    return render(
        request,
        "registrations/fees/declaration.html",
        {
            "application": application,
            "declaration": declaration,
            "described": services_fees.describe(declaration),
            "table": table,
            "options": [(option, quotes.get(option.value)) for option in options],
            "chosen": chosen,
            "locked": services_fees.is_locked(application),
            "errors": errors,
            "next": back,
        },
    )
