"""XRechnung (CII syntax, EN 16931 with the German CIUS) for invoice-paying tenants.

Built with drafthorse, which serialises the Cross Industry Invoice and validates it against
the Factur-X/ZUGFeRD EN 16931 schema it ships. The buyer reference (BT-10) is the tenant's
Leitweg-ID, as XRechnung requires for German public bodies.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from drafthorse.models.accounting import ApplicableTradeTax
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentTerms
from drafthorse.models.tradelines import LineItem

from .models import Invoice, Subscription

XRECHNUNG_GUIDELINE = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
XRECHNUNG_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
SCHEMA = "FACTUR-X_EN16931"
VAT_RATE = Decimal("19.00")
CENT = Decimal("0.01")


def _eur(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def build_xrechnung(invoice: Invoice, subscription: Subscription) -> bytes:
    """The invoice as XRechnung XML (bytes). Raises if the result does not validate."""
    if not subscription.leitweg_id:
        raise ValueError("XRechnung needs the buyer's Leitweg-ID")
    doc = Document()
    doc.context.business_parameter.id = XRECHNUNG_PROCESS
    doc.context.guideline_parameter.id = XRECHNUNG_GUIDELINE
    doc.header.id = invoice.number
    doc.header.type_code = "380"  # commercial invoice
    doc.header.issue_date_time = invoice.issued_at.date()
    note = IncludedNote()
    note.content = f"Kitaportal – {subscription.plan}"
    doc.header.notes.add(note)

    agreement = doc.trade.agreement
    agreement.buyer_reference = subscription.leitweg_id
    seller = agreement.seller
    seller.name = settings.SELLER_NAME
    seller.address.line_one = settings.SELLER_STREET
    seller.address.postcode = settings.SELLER_POSTCODE
    seller.address.city_name = settings.SELLER_CITY
    seller.address.country_id = "DE"
    seller.electronic_address.uri_ID = ("EM", settings.SELLER_EMAIL)
    seller.contact.person_name = settings.SELLER_NAME
    seller.contact.telephone.number = "+49 234 000000"
    seller.contact.email.address = settings.SELLER_EMAIL
    seller.tax_registrations.add(TaxRegistration(id=("VA", settings.SELLER_VAT_ID)))
    buyer = agreement.buyer
    buyer.name = subscription.tenant.name
    buyer.address.line_one = subscription.billing_street
    buyer.address.postcode = subscription.billing_postcode
    buyer.address.city_name = subscription.billing_city
    buyer.address.country_id = "DE"
    buyer.electronic_address.uri_ID = ("0204", subscription.leitweg_id)

    if invoice.period_start:
        doc.trade.delivery.event.occurrence = invoice.period_start

    settlement = doc.trade.settlement
    settlement.currency_code = invoice.currency
    settlement.payment_means.type_code = "58"  # SEPA credit transfer
    terms = PaymentTerms()
    if invoice.due_date:
        terms.due = invoice.due_date
        terms.description = f"Zahlbar bis {invoice.due_date:%d.%m.%Y} ohne Abzug."
    else:
        terms.description = "Zahlbar sofort ohne Abzug."
    settlement.terms.add(terms)
    if invoice.period_start and invoice.period_end:
        settlement.period.start = invoice.period_start
        settlement.period.end = invoice.period_end

    net_total = Decimal("0.00")
    for number, line in enumerate(invoice.lines or [], start=1):
        amount = _eur(line["amount_cents"])
        quantity = Decimal(line.get("quantity") or 1)
        item = LineItem()
        item.document.line_id = str(number)
        item.product.name = line.get("description") or "Kitaportal"
        item.agreement.net.amount = (amount / quantity).quantize(CENT)
        item.delivery.billed_quantity = (quantity.quantize(Decimal("0.0001")), "C62")
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = "S"
        item.settlement.trade_tax.rate_applicable_percent = VAT_RATE
        item.settlement.monetary_summation.total_amount = amount
        doc.trade.items.add(item)
        net_total += amount

    tax_total = (net_total * VAT_RATE / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    trade_tax = ApplicableTradeTax()
    trade_tax.calculated_amount = tax_total
    trade_tax.basis_amount = net_total
    trade_tax.type_code = "VAT"
    trade_tax.category_code = "S"
    trade_tax.rate_applicable_percent = VAT_RATE
    settlement.trade_tax.add(trade_tax)

    summation = settlement.monetary_summation
    summation.line_total = net_total
    summation.charge_total = Decimal("0.00")
    summation.allowance_total = Decimal("0.00")
    summation.tax_basis_total = net_total
    summation.tax_total = (tax_total, invoice.currency)
    summation.grand_total = net_total + tax_total
    summation.due_amount = net_total + tax_total
    return doc.serialize(schema=SCHEMA)
