"""Care contracts (Betreuungsvertrag): generated as PDF (WeasyPrint) when an offer is
accepted, from the carrier's template (or the municipality's default), with the fee from the
fee table in force at the start date; signature status tracked (sent → signed by the family →
countersigned by the carrier)."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tenants.common.services import record_audit

from .fees import NoFeeTable, calculate_fee
from .models_allocation import CareContract, ContractTemplate, Offer

DEFAULT_CLAUSES = (
    "Der Träger betreut, bildet und erzieht das Kind nach dem Kinderbildungsgesetz NRW "
    "(KiBiz) und der pädagogischen Konzeption der Einrichtung.\n\n"
    "Die Eltern zahlen den Elternbeitrag nach der Beitragssatzung der Kommune an das "
    "Jugendamt. Änderungen des Einkommens sind dem Jugendamt mitzuteilen.\n\n"
    "Der Vertrag kann mit einer Frist von drei Monaten zum Monatsende schriftlich gekündigt "
    "werden. Er endet ohne Kündigung mit dem Beginn der Schulpflicht.\n\n"
    "Vor der Aufnahme legen die Eltern den Nachweis über die Masernimpfung und die "
    "ärztliche Bescheinigung über die Vorsorgeuntersuchung vor."
)


def template_for(carrier) -> ContractTemplate:
    template = ContractTemplate.objects.filter(carrier=carrier).first()
    if template is None:
        template = ContractTemplate.objects.filter(carrier__isnull=True).first()
    if template is None:
        template = ContractTemplate.objects.create(
            carrier=None, title="Betreuungsvertrag", clauses=DEFAULT_CLAUSES
        )
    return template


def _render_pdf(context: dict) -> bytes:
    from weasyprint import HTML

    with translation.override("de"):  # the contract is a German legal document
        html = render_to_string("registrations/contract.html", context)
    return HTML(string=html).write_pdf()


def create_contract(actor, offer: Offer) -> CareContract:
    """Generate the contract PDF for an accepted offer (idempotent)."""
    existing = CareContract.objects.filter(offer=offer).first()
    if existing is not None:
        return existing
    offer = _offer_for_contract(offer.pk)
    number = f"BV-{offer.start_date:%Y}-{offer.pk:06d}"
    fee, note, pdf = _contract_content(offer, number)
    contract = CareContract.objects.create(
        offer=offer,
        number=number,
        monthly_fee=fee,
        fee_note=note[:300],
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
    )
    record_audit(actor, "contract.created", contract)
    return contract


def renew_contract(actor, contract: CareContract) -> bool:
    """Re-create a contract that is not countersigned yet from the current data (after the
    family changed its income declaration): fee, note and PDF; a contract the family had
    signed goes back to "sent". Returns whether the fee or its basis changed."""
    if contract.status == CareContract.Status.COUNTERSIGNED:
        raise ValidationError(_("Ein gegengezeichneter Vertrag wird nicht mehr geändert."))
    offer = _offer_for_contract(contract.offer_id)
    fee, note, pdf = _contract_content(offer, contract.number)
    if fee == contract.monthly_fee and note[:300] == contract.fee_note:
        return False
    contract.monthly_fee = fee
    contract.fee_note = note[:300]
    contract.pdf = pdf
    contract.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    fields = ["monthly_fee", "fee_note", "pdf", "pdf_sha256"]
    if contract.status == CareContract.Status.SIGNED:
        contract.status = CareContract.Status.SENT
        contract.status_changed_at = timezone.now()
        fields += ["status", "status_changed_at"]
    contract.save(update_fields=fields)
    record_audit(actor, "contract.renewed", contract)
    return True


def _offer_for_contract(offer_id: int) -> Offer:
    return Offer.objects.select_related(
        "facility__carrier", "child", "application__fee_declaration"
    ).get(pk=offer_id)


def _contract_content(offer: Offer, number: str):
    """(monthly fee, fee note, PDF bytes) of the contract for an accepted offer."""
    from .services_fees import describe, income_of

    facility = offer.facility
    template = template_for(facility.carrier)
    guardians = list(offer.application.family.guardians.all())
    declaration = getattr(offer.application, "fee_declaration", None)
    try:
        with translation.override("de"):  # the note is part of the German contract
            quote = calculate_fee(
                day=offer.start_date,
                income=income_of(declaration),
                age_group=offer.age_group,
                care_hours=offer.care_hours,
                birth_date=offer.child.birth_date,
                sibling_position=_sibling_position(offer),
            )
            note = f"{quote.note}; {describe(declaration)}"
        fee = quote.amount
        highest = quote.bracket is not None and quote.bracket.income_up_to is None
    except NoFeeTable:
        from decimal import Decimal

        fee, note, highest = Decimal("0.00"), _("keine Beitragstabelle hinterlegt"), False
    context = {
        "number": number,
        "template": template,
        "clauses": [p.strip() for p in template.clauses.split("\n\n") if p.strip()],
        "carrier": facility.carrier,
        "facility": facility,
        "child": offer.child,
        "guardians": guardians,
        "offer": offer,
        "fee": fee,
        "fee_note": note,
        "highest_bracket": highest,
        "declared": declaration is not None
        and not declaration.no_answer
        and declaration.income_up_to is not None,
        "today": timezone.localdate(),
    }
    return fee, note, _render_pdf(context)


def _sibling_position(offer: Offer) -> int:
    """1 for the first child of the family in care (accepted offers by start), else 2+."""
    earlier = Offer.objects.filter(
        application__family_id=offer.application.family_id,
        status=Offer.Status.ACCEPTED,
    ).exclude(pk=offer.pk)
    return 1 + earlier.filter(pk__lt=offer.pk).count()


NEXT_STATUS = {
    CareContract.Status.SENT: CareContract.Status.SIGNED,
    CareContract.Status.SIGNED: CareContract.Status.COUNTERSIGNED,
}


def advance_contract(actor, contract: CareContract, status: str) -> CareContract:
    """Move the signature status one step forward (family signs, carrier countersigns)."""
    if NEXT_STATUS.get(contract.status) != status:
        raise ValidationError(_("Dieser Statuswechsel ist nicht möglich."))
    contract.status = status
    contract.status_changed_at = timezone.now()
    contract.save(update_fields=["status", "status_changed_at"])
    record_audit(actor, f"contract.{status}", contract)
    return contract


def save_template(actor, carrier, *, title: str, clauses: str) -> ContractTemplate:
    """Create or change a carrier's contract template (``carrier=None``: the default)."""
    errors = {}
    if not title.strip():
        errors["title"] = [_("Bitte geben Sie einen Titel an.")]
    if not clauses.strip():
        errors["clauses"] = [_("Bitte geben Sie die Vertragsbedingungen an.")]
    if len(clauses) > 20000:
        errors.setdefault("clauses", []).append(_("Höchstens 20.000 Zeichen."))
    if errors:
        raise ValidationError(errors)
    template, _created = ContractTemplate.objects.update_or_create(
        carrier=carrier, defaults={"title": title.strip()[:200], "clauses": clauses.strip()}
    )
    record_audit(actor, "contract_template.saved", template)
    return template
