"""The family's income declaration for the parent fee (ADR 0008).

A family declares only the *bracket* of the fee table in force at its start date (or
"keine Angabe", which means the top bracket), never its exact income. The declaration
belongs to one application (deleted with it), can be changed until a contract of the
application is countersigned, and drives the contract's fee: a change re-creates the
not yet countersigned contracts (a contract the family had already signed goes back to
"sent", as the family has to sign the new version). Every change writes a history entry
(without the bracket) and an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.common.services import record_audit

from .fees import NoFeeTable, euros, fee_table_on, quote_from_rows
from .models import Application, ApplicationEvent
from .models_allocation import CareContract, FeeTable, Offer
from .models_family_data import FeeDeclaration
from .services import _history, age_group_at

ApplicationEvent.LABELS.update(
    {
        "fee_declared": gettext_lazy("Einkommensstufe für den Elternbeitrag angegeben"),
        "contract_renewed": gettext_lazy("Betreuungsvertrag mit neuem Elternbeitrag erstellt"),
    }
)

NO_ANSWER = "keine-angabe"
TOP = "hoechste"
TOP_INCOME = Decimal(10**9)


@dataclass(frozen=True)
class BracketOption:
    value: str  # the limit in whole euros, TOP or NO_ANSWER
    label: str
    income_up_to: Decimal | None
    no_answer: bool = False


def bracket_options(table: FeeTable) -> list[BracketOption]:
    """The brackets of a fee table as a family chooses them (lowest first), then the top
    bracket, then "keine Angabe"."""
    limits = sorted(
        {limit for limit in table.brackets.values_list("income_up_to", flat=True) if limit}
    )
    options = []
    lower = None
    for limit in limits:
        if lower is None:
            label = _("bis %(limit)s € im Jahr") % {"limit": euros(limit)}
        else:
            label = _("%(lower)s € bis %(limit)s € im Jahr") % {
                "lower": euros(lower + 1),
                "limit": euros(limit),
            }
        options.append(BracketOption(str(int(limit)), label, limit))
        lower = limit
    if lower is None:
        top_label = _("jedes Einkommen")
    else:
        top_label = _("über %(limit)s € im Jahr") % {"limit": euros(lower)}
    options.append(BracketOption(TOP, top_label, None))
    options.append(
        BracketOption(
            NO_ANSWER,
            _("keine Angabe – es gilt der Beitrag der höchsten Einkommensstufe"),
            None,
            no_answer=True,
        )
    )
    return options


def choice_of(declaration: FeeDeclaration | None) -> str:
    if declaration is None:
        return ""
    if declaration.no_answer:
        return NO_ANSWER
    if declaration.income_up_to is None:
        return TOP
    return str(int(declaration.income_up_to))


def income_of(declaration: FeeDeclaration | None) -> Decimal:
    """The income the fee calculation uses: the declared bracket's upper limit; the top
    bracket without a declaration, with "keine Angabe" or with the top bracket chosen."""
    if declaration is None or declaration.uses_top_bracket:
        return TOP_INCOME
    return Decimal(declaration.income_up_to)


def describe(declaration: FeeDeclaration | None) -> str:
    """How the declaration reads for staff, in the contract and on the family's pages."""
    if declaration is None:
        return _("noch keine Angabe (höchste Einkommensstufe)")
    if declaration.no_answer:
        return _("„keine Angabe“ gewählt (höchste Einkommensstufe)")
    if declaration.income_up_to is None:
        return _("höchste Einkommensstufe (Angabe der Familie)")
    return _("Einkommen bis %(limit)s € im Jahr (Angabe der Familie)") % {
        "limit": euros(declaration.income_up_to)
    }


def is_locked(application: Application) -> bool:
    """True once a contract of the application is countersigned."""
    return CareContract.objects.filter(
        offer__application=application, status=CareContract.Status.COUNTERSIGNED
    ).exists()


def quotes_for(application: Application, table: FeeTable) -> dict[str, object]:
    """The monthly fee of the application's first child at each option (two queries)."""
    child = application.children.order_by("pk").first()
    if child is None:
        return {}
    age = age_group_at(child.birth_date, application.start_date)
    rows = list(table.brackets.filter(age_group=age, care_hours=application.care_hours))
    quotes = {}
    for option in bracket_options_cached(table):
        income = TOP_INCOME if option.income_up_to is None else option.income_up_to
        quotes[option.value] = quote_from_rows(
            table,
            rows,
            day=application.start_date,
            income=income,
            birth_date=child.birth_date,
        )
    return quotes


def bracket_options_cached(table: FeeTable) -> list[BracketOption]:
    cached = getattr(table, "_bracket_options", None)
    if cached is None:
        cached = table._bracket_options = bracket_options(table)
    return cached


def declare_fee_bracket(actor, application: Application, choice: str) -> FeeDeclaration:
    """Store the family's choice (a bracket's limit, ``TOP`` or ``NO_ANSWER``) for the fee
    table in force at the application's start. Atomic; ValidationError at ``bracket``.
    Re-creates the application's contracts that are not countersigned yet."""
    if application.status != Application.Status.ACTIVE:
        raise ValidationError({"bracket": [_("Diese Voranmeldung ist nicht mehr aktiv.")]})
    if is_locked(application):
        raise ValidationError(
            {
                "bracket": [
                    _(
                        "Der Betreuungsvertrag ist bereits gegengezeichnet. Änderungen Ihres "
                        "Einkommens teilen Sie bitte dem Jugendamt mit."
                    )
                ]
            }
        )
    try:
        table = fee_table_on(application.start_date)
    except NoFeeTable:
        raise ValidationError(
            {
                "bracket": [
                    _("Für Ihren Betreuungsbeginn ist noch keine Beitragstabelle hinterlegt.")
                ]
            }
        ) from None
    option = next((o for o in bracket_options(table) if o.value == choice), None)
    if option is None:
        raise ValidationError(
            {"bracket": [_("Bitte wählen Sie eine Einkommensstufe oder „keine Angabe“.")]}
        )
    with transaction.atomic():
        declaration, _created = FeeDeclaration.objects.update_or_create(
            application=application,
            defaults={
                "table": table,
                "income_up_to": option.income_up_to,
                "no_answer": option.no_answer,
                "declared_at": timezone.now(),
            },
        )
        _history(application, "fee_declared")
        record_audit(actor, "application.fee_declared", application)
        renew_contracts(actor, application)
    return declaration


def renew_contracts(actor, application: Application) -> int:
    """Re-create the PDFs and fees of the application's contracts that are not countersigned
    (after a changed declaration). Returns how many changed."""
    from .contracts import renew_contract

    changed = 0
    contracts = (
        CareContract.objects.select_for_update(of=("self",))
        .filter(offer__application=application, offer__status=Offer.Status.ACCEPTED)
        .exclude(status=CareContract.Status.COUNTERSIGNED)
        .order_by("pk")
    )
    for contract in contracts:
        if renew_contract(actor, contract):
            changed += 1
    if changed:
        _history(application, "contract_renewed", count=changed)
    return changed
