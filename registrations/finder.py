"""Rendered facility cards and map markers for the finder, kept per process.

The finder's cost was rendering: 25 cards through the template engine plus marker data for
every match, for each request, although facilities change a few times a day. Here each card
(its link and its details) is rendered once per facility, language and data version, and each
facility's marker once per data version; a request then only asks the database which
facilities match, in which order. The whole finder body (filter form, results, map data) of a
query is kept too, so a repeated query costs one query (the data version) and no rendering.

The data version is a fingerprint of the tables a card, a profile or the finder page shows
(facilities, their age-group offers, carriers, districts, photos, the portal's welcome text,
and the employers' company daycares listed in this municipality): per table the row count
and the sum of the rows' `xmin`, the id of the transaction that wrote each row version.
Any insert, update or delete (from the services, the admin, an import or plain SQL) changes
it, and a single small query reads it.
No signal or explicit invalidation is needed, and every process (gunicorn workers) notices a
change on its next request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from kitaportal.widgets import StableChoices

from .models import AgeGroupOffer, Carrier, District, Facility, FacilityPhoto

VERSIONED_TABLES = (Facility, AgeGroupOffer, Carrier, District, FacilityPhoto)
# (schema, version) entries kept per process: a few tenants' current data.
MAX_ENTRIES = 32


def _versioned_models():
    from onboarding.models import PortalSetup

    return (*VERSIONED_TABLES, PortalSetup)


def _fingerprint_sql() -> str:
    from employer_quota.agreements.models import CompanyDaycareListing
    from tenants.models import Tenant

    quote = connection.ops.quote_name
    parts = [
        f"(SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) "
        f"FROM {quote(model._meta.db_table)})"
        for model in _versioned_models()
    ]
    # Company daycares listed here (public schema, issue 5), with their employer's name.
    parts.append(
        "(SELECT count(*) || ':' || coalesce(sum(l.xmin::text::bigint + t.xmin::text::bigint), 0)"
        f" FROM public.{quote(CompanyDaycareListing._meta.db_table)} l"
        f" JOIN public.{quote(Tenant._meta.db_table)} t ON t.id = l.employer_id"
        " WHERE l.municipality_id = %(tenant)s)"
    )
    return "SELECT " + " || '/' || ".join(parts)


def data_version() -> str:
    """The fingerprint of the current schema's finder data (one query)."""
    tenant = getattr(connection, "tenant", None)
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql(), {"tenant": getattr(tenant, "pk", None)})
        return cursor.fetchone()[0]


@dataclass
class Card:
    head: SafeString  # the link to the profile
    body: SafeString  # address, carrier, places, hours, tags


@dataclass
class _Entry:
    markers: dict[int, dict] | None
    cards: dict[tuple[str, int], Card]
    choices: dict[str, StableChoices]
    filter_choices: dict[str, dict[str, StableChoices]] = field(default_factory=dict)
    districts: StableChoices | None = None
    parts: dict[tuple[str, str], SafeString] = field(default_factory=dict)
    bodies: OrderedDict = field(default_factory=OrderedDict)


# Rendered finder bodies (filter form, results, map data) kept per data version: the most
# recently used queries, ~50 kB each.
MAX_BODIES = 200


_entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
_lock = threading.Lock()


def _entry(version: str) -> _Entry:
    key = (connection.schema_name, version)
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
            return entry
    entry = _Entry(markers=None, cards={}, choices={})
    with _lock:
        _entries[key] = entry
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return entry


def _all_markers() -> dict[int, dict]:
    url_pattern = reverse("facility-detail", args=["__slug__"])
    rows = Facility.objects.values(
        "pk", "slug", "name", "street", "postcode", "city", "latitude", "longitude"
    )
    return {
        row["pk"]: {
            "name": row["name"],
            "address": f"{row['street']}, {row['postcode']} {row['city']}",
            "url": url_pattern.replace("__slug__", row["slug"]),
            "lat": float(row["latitude"]),
            "lon": float(row["longitude"]),
        }
        for row in rows
    }


def markers(version: str, ids: list[int]) -> list[dict]:
    """Marker data for these facilities, in this order."""
    entry = _entry(version)
    if entry.markers is None:
        entry.markers = _all_markers()
    known = entry.markers
    return [known[pk] for pk in ids if pk in known]


def cards(version: str, ids: list[int], queryset) -> dict[int, Card]:
    """The rendered cards of these facilities by id; the missing ones are rendered from
    `queryset` (one query plus its prefetches)."""
    entry = _entry(version)
    language = get_language() or ""
    missing = [pk for pk in ids if (language, pk) not in entry.cards]
    if missing:
        for facility in queryset.filter(pk__in=missing):
            html = render_to_string("registrations/facility_card.html", {"facility": facility})
            head, _, body = html.partition("<!-- card-body -->")
            entry.cards[(language, facility.pk)] = Card(
                head=mark_safe(head.strip()),  # noqa: S308 - rendered by our own template
                body=mark_safe(body.strip()),  # noqa: S308
            )
    return {pk: entry.cards[(language, pk)] for pk in ids if (language, pk) in entry.cards}


def facility_choices(empty_label: str, version: str | None = None) -> StableChoices:
    """The choices of the pre-registration's wish lists: every facility with its district.
    The same list object for every request of a data version and language, so FastSelect can
    reuse its rendered options."""
    entry = _entry(version or data_version())
    language = get_language() or ""
    choices = entry.choices.get(language)
    if choices is None:
        rows = Facility.objects.order_by("name").values_list("pk", "name", "district__name")
        choices = StableChoices(
            [("", empty_label)] + [(pk, f"{name} ({district})") for pk, name, district in rows]
        )
        entry.choices[language] = choices
    return choices


def kept_part(version: str, name: str, render) -> SafeString:
    """A page part (`render()`'s HTML) kept per data version and language."""
    entry = _entry(version)
    key = (get_language() or "", name)
    part = entry.parts.get(key)
    if part is None:
        part = entry.parts[key] = mark_safe(render())  # noqa: S308 - rendered by our templates
    return part


def district_choices(version: str | None = None) -> StableChoices:
    """The districts by id, as a form's district list shows them (Django's empty label
    first), kept per data version."""
    entry = _entry(version or data_version())
    if entry.districts is None:
        rows = District.objects.order_by("name").values_list("pk", "name")
        entry.districts = StableChoices([("", "---------"), *rows])
    return entry.districts


def filter_choices(version: str, empty_labels: dict[str, str]) -> dict[str, StableChoices]:
    """The finder's district (by slug) and carrier (by id) choices, each led by its empty
    label, kept per data version and language: a query that is not cached yet asks the
    database only which facilities match."""
    entry = _entry(version)
    language = get_language() or ""
    choices = entry.filter_choices.get(language)
    if choices is None:
        districts = District.objects.order_by("name").values_list("slug", "name")
        carriers = Carrier.objects.order_by("name").values_list("pk", "name")
        choices = {
            "district": StableChoices([("", empty_labels["district"]), *districts]),
            "carrier": StableChoices([("", empty_labels["carrier"]), *carriers]),
        }
        entry.filter_choices[language] = choices
    return choices


def body_key(query) -> tuple[str, str, str]:
    """What a body depends on besides the data: the language, today (the age checks of the
    filter form) and the query (every parameter, in a fixed order)."""
    pairs = sorted((key, value) for key, values in query.lists() for value in values)
    return (get_language() or "", date.today().isoformat(), urlencode(pairs))


def cached_body(version: str, key: tuple[str, str, str]) -> SafeString | None:
    entry = _entry(version)
    with _lock:
        body = entry.bodies.get(key)
        if body is not None:
            entry.bodies.move_to_end(key)
        return body


def store_body(version: str, key: tuple[str, str, str], body: str) -> SafeString:
    entry = _entry(version)
    body = mark_safe(body)  # noqa: S308 - rendered by our own template
    with _lock:
        entry.bodies[key] = body
        while len(entry.bodies) > MAX_BODIES:
            entry.bodies.popitem(last=False)
    return body


def clear() -> None:
    with _lock:
        _entries.clear()
