"""Allocation rounds, offers and follow-up rounds (issue 4).

* ``start_run`` queues a run (dry or binding); the Celery task ``execute_allocation_run``
  calls ``execute_run``, which builds the instance from the database, stores the snapshot
  with its hash, solves, stores the result with its hash and one ``RunOutcome`` per child,
  and for a binding run creates the offers and emails every family its result.
* ``replay_run`` solves a stored snapshot again and compares the result hash.
* ``compare_runs`` lists who gains and who loses between two runs.
* Offers: ``accept_offer`` (withdraws the family's other wishes, generates the care
  contract), ``decline_offer``, ``expire_offers`` and ``send_offer_reminders`` (periodic),
  ``offer_next`` (the follow-up round for a freed place), ``make_facility_offer``
  (decentralised mode). At most one open offer per child (a partial unique index).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from kitaportal.observability import observe_allocation_run

from tenants.common.services import queue_email, record_audit

from . import allocation as engine
from .allocation.market import without_gc
from .allocation_db import (
    OPEN_WISH_STATUSES,
    Instance,
    build_instance,
    canonical_hash,
    canonical_json,
    canonical_record,
    canonical_result_hash,
    capacities,
)
from .models import AgeGroup, Application, ApplicationEvent, Child, Wish, WishStatus
from .models_allocation import AllocationPolicy, AllocationRun, Offer, RunOutcome
from .services import _family_language, _history, age_group_at

ApplicationEvent.LABELS.update(
    {
        "offer_made": _("Platzangebot erhalten"),
        "offer_accepted": _("Platzangebot angenommen"),
        "offer_declined": _("Platzangebot abgelehnt"),
        "offer_expired": _("Frist für das Platzangebot abgelaufen"),
        "not_placed": _("Vergaberunde: noch kein Platz (Warteliste)"),
        "wishes_withdrawn_on_accept": _("übrige Wünsche nach Zusage zurückgezogen"),
    }
)


# --- Runs ------------------------------------------------------------------------------------


def start_run(
    actor,
    *,
    kita_year: int,
    age_groups: list[str],
    binding: bool,
    weights: dict | None = None,
    seed: int | None = None,
    label: str = "",
) -> AllocationRun:
    """Queue a run; the worker executes it. ValidationError per field on bad input."""
    errors: dict[str, list[str]] = {}
    groups = sorted(set(age_groups))
    if not groups or any(g not in AgeGroup.values for g in groups):
        errors["age_groups"] = [_("Bitte wählen Sie mindestens eine Altersgruppe.")]
    if not 2000 <= kita_year <= 2100:
        errors["kita_year"] = [_("Bitte geben Sie ein Kita-Jahr wie 2027 an.")]
    clean_weights = {}
    for key, value in (weights or {}).items():
        try:
            clean_weights[str(int(key))] = int(value)
        except (TypeError, ValueError):
            errors.setdefault("weights", []).append(_("Punkte müssen ganze Zahlen sein."))
            break
    policy = AllocationPolicy.current()
    if binding and policy.mode == AllocationPolicy.Mode.DECENTRAL:
        errors.setdefault("binding", []).append(
            _("Im dezentralen Verfahren vergeben die Kitas selbst; verbindliche Runden sind aus.")
        )
    if (
        binding
        and AllocationRun.objects.filter(
            binding=True, kita_year=kita_year, status__in=["queued", "running"]
        ).exists()
    ):
        errors.setdefault("binding", []).append(_("Eine verbindliche Runde läuft bereits."))
    if errors:
        raise ValidationError(errors)
    run = AllocationRun.objects.create(
        created_by_id=getattr(actor, "pk", None),
        label=label.strip()[:200],
        kita_year=kita_year,
        age_groups=groups,
        binding=binding,
        seed=seed if seed is not None else secrets.randbelow(2**31),
        parameters={"weights": clean_weights},
    )
    record_audit(actor, "allocation.run_started", run, binding=binding)
    transaction.on_commit(lambda: _dispatch_run(run.pk))
    return run


SNAPSHOT_COMPRESSION = 1  # zlib level: 3 MB of JSON in about 20 ms, to about a fifth


def _dispatch_run(run_id: int) -> None:
    from .tasks import execute_allocation_run

    try:
        execute_allocation_run.apply_async(args=[run_id], retry=False)
    except Exception:  # broker down: the run stays queued and can be started again
        return


def _progress(run: AllocationRun, value: int) -> None:
    run.progress = value
    AllocationRun.objects.filter(pk=run.pk).update(progress=value)


def execute_run(run_id: int) -> AllocationRun:
    """Execute a queued run (idempotent: a finished run is returned unchanged)."""
    with transaction.atomic():
        run = AllocationRun.objects.select_for_update().get(pk=run_id)
        if run.status in (AllocationRun.Status.DONE, AllocationRun.Status.RUNNING):
            return run
        run.status = AllocationRun.Status.RUNNING
        run.progress = 5
        run.save(update_fields=["status", "progress"])
    try:
        with transaction.atomic():
            run = AllocationRun.objects.select_for_update().get(pk=run_id)
            with without_gc():  # millions of short-lived objects, none cyclic
                _execute(run)
    except Exception as exc:
        AllocationRun.objects.filter(pk=run_id).update(
            status=AllocationRun.Status.FAILED, error=type(exc).__name__[:500]
        )
        raise
    return run


def _execute(run: AllocationRun) -> None:
    """Build, solve, store the offers, the snapshot and the outcomes. Phases, each timed in
    ``timings``: ``build_s`` (the instance from the rows, streamed), ``solve_s`` (the
    engine), ``store_s`` (for a binding run the offers, wishes and history entries with
    their foreign-key checks, executed by the server while the snapshot's canonical JSON,
    hash and compression (``hash_s``, part of ``store_s``), the explanations and the outcome
    rows with the result hash are computed here; then the outcomes), ``save_s`` (the run
    row)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    instance = build_instance(
        run.kita_year,
        run.age_groups,
        seed=run.seed,
        weights=run.parameters.get("weights"),
        round_label=f"run-{run.pk}",
    )
    timings["build_s"] = time.perf_counter() - t0
    _progress(run, 30)
    t_solve = time.perf_counter()
    market = engine.load_instance(instance.document, validate_schema=False)
    allocation = engine.solve(market)  # reads the document, never changes it
    t1 = time.perf_counter()
    timings["solve_s"] = t1 - t_solve
    _progress(run, 60)
    # A binding run's offers (with the wishes marked and the history entries) need only the
    # placements: they are sent first in pipeline mode, and the server writes them and
    # checks their foreign keys while the snapshot is serialised, hashed, compressed and sent
    # after them, and the explanations and the outcome rows are computed.
    placed = placements(instance, allocation)
    statements = offer_statements(run, placed, instance) if run.binding else []
    table = connection.ops.quote_name(AllocationRun._meta.db_table)
    with _while_working(statements) as send:
        t_hash = time.perf_counter()
        # The snapshot is serialised once: its canonical JSON is hashed, and compressed to
        # be stored as it is.
        snapshot_text = canonical_json(instance.document).encode()
        run.snapshot_hash = hashlib.sha256(snapshot_text).hexdigest()
        run.set_snapshot(instance.document, zlib.compress(snapshot_text, SNAPSHOT_COMPRESSION))
        send(
            f"UPDATE {table} SET snapshot_gz = %s, snapshot_hash = %s WHERE id = %s",
            [run.snapshot_gz, run.snapshot_hash, run.pk],
        )
        timings["hash_s"] = time.perf_counter() - t_hash
        result = engine.result_dict(allocation)
        chunks, outcome_placed, run.result_hash = outcome_rows(run, instance, result)
    if outcome_placed != placed:  # the engine's placements and its result document agree
        raise RuntimeError("the result's placements differ from the allocation's")
    # The per-child records are stored as RunOutcome rows; the run keeps the rest of the
    # result document (summary, per-category figures) and the hash over the whole document,
    # computed from the same canonical JSON of each child's record that is stored.
    run.result = {key: value for key, value in result.items() if key != "children"}
    run.summary = result["summary"]
    _copy(RunOutcome, OUTCOME_COLUMNS, chunks)
    if run.binding:
        everyone = sorted(set(instance.child_application.values()))
        transaction.on_commit(lambda: _queue_result_mails(run.pk, everyone))
    timings["store_s"] = time.perf_counter() - t1
    run.status = AllocationRun.Status.DONE
    run.progress = 100
    run.finished_at = timezone.now()
    run.timings = timings
    t_save = time.perf_counter()
    AllocationRun.objects.filter(pk=run.pk).update(
        status=run.status,
        progress=run.progress,
        finished_at=run.finished_at,
        timings=timings,
        result=run.result,
        result_hash=run.result_hash,
        summary=run.summary,
    )
    timings["save_s"] = time.perf_counter() - t_save
    transaction.on_commit(lambda: observe_allocation_run(timings, run.binding))
    record_audit(None, "allocation.run_done", run, placed=run.summary.get("placed", 0))


@contextmanager
def _while_working(statements: list[tuple[str, list]]) -> Iterator[Callable[[str, list], None]]:
    """Send the statements and run the block while the server executes them (psycopg's
    pipeline mode); the block gets a function that sends one more. On exit the results are
    collected and the first error raised. The block must not query the database otherwise."""
    with connection.cursor() as cursor:
        with connection.connection.pipeline():
            for sql, params in statements:
                cursor.execute(sql, params)
            yield cursor.execute


def placements(instance: Instance, allocation) -> list[tuple]:
    """The children the engine placed at a Kita, in the input's order, as (application id,
    child id, facility id, age group, care hours)."""
    market = allocation.market
    by_key = {doc["id"]: doc for doc in instance.document["children"]}
    facility_ids, child_application = instance.facility_ids, instance.child_application
    internal = [0] * market.n
    for c, position in enumerate(market.child_input_position):
        internal[position] = c
    placed: list[tuple] = []
    for c in internal:
        f = allocation.facility_of(c)
        if f < 0:
            continue
        facility_id = facility_ids.get(market.facility_ids[f])
        if facility_id is None:  # family daycare
            continue
        key = market.child_ids[c]
        doc = by_key[key]
        placed.append(
            (child_application[key], int(key[1:]), facility_id, doc["age_group"], doc["care_hours"])
        )
    return placed


def solve_document(document: dict, *, validate_schema: bool = True) -> tuple[dict, dict]:
    """Solve a market document; returns (document, result document)."""
    market = engine.load_instance(document, validate_schema=validate_schema)
    with without_gc():
        return document, engine.result_dict(engine.solve(market))


def replay_run(run: AllocationRun) -> tuple[bool, str]:
    """Solve the stored snapshot again; (identical?, the new result hash). A snapshot whose
    stored text or document does not match its hash is refused: (False, "")."""
    text = run.snapshot_text
    if text is None or hashlib.sha256(text).hexdigest() != run.snapshot_hash:
        return False, ""
    if canonical_hash(run.snapshot) != run.snapshot_hash:
        return False, ""
    _, result = solve_document(run.snapshot)
    new_hash = canonical_hash(result)
    return new_hash == run.result_hash, new_hash


def _copy(model, columns: list[str], chunks: Iterable[str]) -> None:
    """Bulk insert with PostgreSQL COPY (in the tenant's schema: same connection). ``chunks``
    are pieces of COPY text (tab-separated lines, ``\\N`` for NULL), written as they come, so
    the server inserts one piece while the next is being formatted."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for chunk in chunks:
                if chunk:
                    copy.write(chunk)


def _copy_value(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        text = text.replace("\r", "\\r")
    return text


COPY_CHUNK = 1000  # rows per piece of COPY text
OUTCOME_COLUMNS = [
    "run_id",
    "application_id",
    "child_id",
    "facility_id",
    "daycare_district_id",
    "wish_number",
    "age_group",
    "care_hours",
    "seat",
    "explanation",
]


def outcome_rows(
    run: AllocationRun, instance: Instance, result: dict
) -> tuple[list[str], list[tuple], str]:
    """The COPY text of one ``RunOutcome`` per child (``OUTCOME_COLUMNS``, in pieces of
    ``COPY_CHUNK`` rows). Each child's record is serialised once as canonical JSON: its
    explanation is stored, and the records make up the canonical text of the whole result.
    Returns (the pieces, the placements at Kitas as (application id, child id, facility id,
    age group, care hours), the result hash)."""
    by_key = {doc["id"]: doc for doc in instance.document["children"]}
    facility_ids, daycare = instance.facility_ids, instance.daycare_districts
    child_application = instance.child_application
    texts: list[str] = []
    placed: list[tuple] = []
    chunks: list[str] = []
    run_id = str(int(run.pk))
    lines: list[str] = []
    for record in result["children"]:
        key = record["id"]
        explanation, text = canonical_record(record)
        texts.append(text)
        placement = record["placement"]
        doc = by_key[key]
        age, hours = doc["age_group"], doc["care_hours"]
        application_id = child_application[key]
        if placement:
            target = placement["facility"]
            facility_id = facility_ids.get(target)
            district_id = daycare.get(target)
            wish, seat = placement["wish"], placement["seat"] or ""
            if facility_id is not None:
                placed.append((application_id, int(key[1:]), facility_id, age, hours))
        else:
            facility_id = district_id = wish = None
            seat = ""
        lines.append(
            f"{run_id}\t{application_id}\t{key[1:]}\t{_copy_value(facility_id)}\t"
            f"{_copy_value(district_id)}\t{_copy_value(wish)}\t{_copy_value(age)}\t"
            f"{hours}\t{_copy_value(seat)}\t{_copy_value(explanation)}\n"
        )
        if len(lines) == COPY_CHUNK:
            chunks.append("".join(lines))
            lines.clear()
    chunks.append("".join(lines))
    return chunks, placed, canonical_result_hash(result, texts)


def store_outcomes(run: AllocationRun, instance: Instance, result: dict) -> tuple[list[tuple], str]:
    """One ``RunOutcome`` per child (COPY, see :func:`outcome_rows`); returns the placements
    at Kitas and the result hash."""
    chunks, placed, result_hash = outcome_rows(run, instance, result)
    _copy(RunOutcome, OUTCOME_COLUMNS, chunks)
    return placed, result_hash


def compare_runs(first: AllocationRun, second: AllocationRun) -> dict:
    """Who gains (better wish or newly placed), who loses, unfilled places in each."""

    def outcomes(run):
        return {
            o.child_id: (o.wish_number, o.facility_id or o.daycare_district_id)
            for o in run.outcomes.all()
        }

    a, b = outcomes(first), outcomes(second)
    gains, losses, moved = [], [], 0
    for child_id in sorted(set(a) | set(b)):
        wa = a.get(child_id, (None, None))[0]
        wb = b.get(child_id, (None, None))[0]
        rank_a = wa if wa is not None else 99
        rank_b = wb if wb is not None else 99
        if rank_b < rank_a:
            gains.append((child_id, wa, wb))
        elif rank_b > rank_a:
            losses.append((child_id, wa, wb))
        elif a.get(child_id) != b.get(child_id):
            moved += 1
    return {
        "gains": gains,
        "losses": losses,
        "moved_same_rank": moved,
        "first": first.summary,
        "second": second.summary,
        "unfilled": (first.summary.get("free_places"), second.summary.get("free_places")),
    }


# --- Offers ----------------------------------------------------------------------------------


def _deadline():
    return timezone.now() + timedelta(days=AllocationPolicy.current().offer_days)


def _array_literal(values: Iterable) -> str:
    """A PostgreSQL array literal of ids, numbers, dates or age groups: one text parameter
    (a tenth of the client's work of adapting a list element by element). Only for values
    whose text needs no quoting."""
    return "{" + ",".join(map(str, values)) + "}"


def offer_statements(
    run: AllocationRun, placed: list[tuple], instance: Instance
) -> list[tuple[str, list]]:
    """The statements that create the offers for the children a binding run placed at a
    Kita (one INSERT from arrays), mark their wishes (one UPDATE by id) and add the history
    entries (one INSERT), then check the foreign keys of these rows at once (``SET
    CONSTRAINTS ALL IMMEDIATE``, then back to deferred) instead of at the commit: sent in
    pipeline mode, the server does this work while the run computes its outcomes. The
    result emails are queued after the commit."""
    now = timezone.now()
    deadline = _deadline()
    apps = instance.rows
    columns: tuple[list, ...] = ([], [], [], [], [], [], [])
    applications, children, wishes, facilities, ages, hours_, starts = columns
    offered: dict[int, int] = {}  # wish id → application id (one history entry per wish)
    event_facilities: list[int] = []
    for application_id, child_id, facility_id, age, hours in placed:
        app = apps[application_id]
        wish_id = app.wish_ids.get(facility_id)
        if wish_id is None:
            continue
        applications.append(application_id)
        children.append(child_id)
        wishes.append(wish_id)
        facilities.append(facility_id)
        ages.append(age)
        hours_.append(hours)
        starts.append(app.start_date)
        if wish_id not in offered:
            offered[wish_id] = application_id
            event_facilities.append(facility_id)
    if not applications:
        return []

    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    return [
        (
            f"INSERT INTO {table(Offer)} (run_id, source, application_id, child_id, wish_id, "
            "facility_id, age_group, care_hours, start_date, status, created_at, deadline) "
            "SELECT %s, %s, a, c, w, f, g, h, d, %s, %s, %s FROM unnest("
            "%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], "
            "%s::integer[], %s::date[]) AS t(a, c, w, f, g, h, d)",
            [
                run.pk,
                Offer.Source.RUN.value,
                Offer.Status.OPEN.value,
                now,
                deadline,
                *(_array_literal(column) for column in columns),
            ],
        ),
        (
            f"UPDATE {table(Wish)} SET status = %s, status_changed_at = %s "
            "WHERE id = ANY(%s::bigint[])",
            [WishStatus.OFFER.value, now, _array_literal(sorted(offered))],
        ),
        (
            f"INSERT INTO {table(ApplicationEvent)} (application_id, created_at, kind, data) "
            "SELECT a, %s, 'offer_made', jsonb_build_object('facility', f, 'run', %s::bigint) "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS t(a, f)",
            [now, run.pk, _array_literal(offered.values()), _array_literal(event_facilities)],
        ),
        ("SET CONSTRAINTS ALL IMMEDIATE", []),
        ("SET CONSTRAINTS ALL DEFERRED", []),
    ]


def _queue_result_mails(run_id: int, application_ids: list[int]) -> None:
    from .tasks import send_run_results

    try:
        send_run_results.apply_async(args=[run_id, application_ids], retry=False)
    except Exception:  # broker down: send in-process (emails go to the outbox anyway)
        send_run_results_now(run_id, application_ids)


def send_run_results_now(run_id: int, application_ids: list[int]) -> int:
    """Queue one result email per application (offer, or not placed with waiting status)."""
    from .explanations import explain

    run = AllocationRun.objects.get(pk=run_id)
    sent = 0
    applications = Application.objects.filter(pk__in=application_ids).prefetch_related(
        "family__guardians"
    )
    outcomes = defaultdict(list)
    for outcome in run.outcomes.filter(application_id__in=application_ids).select_related(
        "child", "facility"
    ):
        outcomes[outcome.application_id].append(outcome)
    offers = defaultdict(list)
    for offer in run.offers.filter(application_id__in=application_ids).select_related(
        "facility", "child"
    ):
        offers[offer.application_id].append(offer)
    for application in applications:
        recipients = [g.email for g in application.family.guardians.all()]
        if not recipients:
            continue
        with translation.override(_family_language(application)):
            items = [(o, explain(o)) for o in outcomes[application.pk]]
            if not any(o.placed for o, _ in items):
                _history(application, "not_placed", run=run.pk)
            text = render_to_string(
                "registrations/email/run_result.txt",
                {
                    "application": application,
                    "items": items,
                    "offers": offers[application.pk],
                },
            )
            queue_email(
                to=recipients,
                subject=f"{_('Ergebnis der Platzvergabe')} {application.reference}",
                text=text,
            )
        sent += 1
    return sent


def _open_offer_for_update(offer_id: int) -> Offer:
    offer = Offer.objects.select_for_update().select_related("application").get(pk=offer_id)
    if offer.status != Offer.Status.OPEN:
        raise ValidationError(_("Dieses Angebot ist nicht mehr offen."))
    if offer.deadline <= timezone.now():
        raise ValidationError(_("Die Frist für dieses Angebot ist abgelaufen."))
    return offer


def accept_offer(actor, offer: Offer) -> Offer:
    """Accept an offer (and the open offers of the same application at the same facility, for
    siblings placed together); withdraw the application's other wishes; create the contract."""
    from .contracts import create_contract

    with transaction.atomic():
        offer = _open_offer_for_update(offer.pk)
        now = timezone.now()
        together = list(
            Offer.objects.select_for_update().filter(
                application_id=offer.application_id,
                facility_id=offer.facility_id,
                status=Offer.Status.OPEN,
            )
        )
        for item in together:
            item.status = Offer.Status.ACCEPTED
            item.responded_at = now
            item.save(update_fields=["status", "responded_at"])
        Wish.objects.filter(pk=offer.wish_id).update(
            status=WishStatus.ACCEPTED, status_changed_at=now
        )
        keep = set(
            Offer.objects.filter(
                application_id=offer.application_id,
                status__in=(Offer.Status.OPEN, Offer.Status.ACCEPTED),
            ).values_list("wish_id", flat=True)
        )
        withdrawn = (
            Wish.objects.filter(application_id=offer.application_id)
            .exclude(pk__in=keep)
            .filter(status__in=OPEN_WISH_STATUSES)
            .update(status=WishStatus.WITHDRAWN, status_changed_at=now)
        )
        _history(offer.application, "offer_accepted", facility=offer.facility_id)
        if withdrawn:
            _history(offer.application, "wishes_withdrawn_on_accept", count=withdrawn)
        record_audit(actor, "offer.accepted", offer)
        for item in together:
            create_contract(actor, item)
        _mail_family(offer, "offer_accepted", gettext_noop("Zusage bestätigt"))
    offer.refresh_from_db()
    return offer


def decline_offer(actor, offer: Offer) -> Offer:
    """Decline an offer (with the open offers of the same application at that Kita, for
    siblings placed together); each freed place goes to the next child at once."""
    with transaction.atomic():
        offer = _open_offer_for_update(offer.pk)
        together = list(
            Offer.objects.select_for_update()
            .select_related("application")
            .filter(
                application_id=offer.application_id,
                facility_id=offer.facility_id,
                status=Offer.Status.OPEN,
            )
            .order_by("pk")
        )
        for item in together:
            _close(item, Offer.Status.DECLINED, WishStatus.DECLINED, "offer_declined")
            record_audit(actor, "offer.declined", item)
        for item in together:
            offer_next(item.facility_id, item.age_group, item.care_hours, item.start_date)
    offer.refresh_from_db()
    return offer


def _close(offer: Offer, status: str, wish_status: str, event: str) -> None:
    now = timezone.now()
    offer.status = status
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    # the wish stays "offer" while a sibling's offer at that facility is still open
    if not Offer.objects.filter(wish_id=offer.wish_id, status=Offer.Status.OPEN).exists():
        Wish.objects.filter(pk=offer.wish_id).update(status=wish_status, status_changed_at=now)
    _history(offer.application, event, facility=offer.facility_id)


def expire_offers(now=None) -> int:
    """Close the open offers past their deadline and offer each place to the next child."""
    now = now or timezone.now()
    count = 0
    for offer_id in Offer.objects.filter(status=Offer.Status.OPEN, deadline__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            offer = (
                Offer.objects.select_for_update(skip_locked=True)
                .select_related("application")
                .filter(pk=offer_id, status=Offer.Status.OPEN, deadline__lte=now)
                .first()
            )
            if offer is None:
                continue
            _close(offer, Offer.Status.EXPIRED, WishStatus.DECLINED, "offer_expired")
            record_audit(None, "offer.expired", offer)
            _mail_family(offer, "offer_expired", gettext_noop("Frist abgelaufen"))
            offer_next(offer.facility_id, offer.age_group, offer.care_hours, offer.start_date)
            count += 1
    return count


def send_offer_reminders(now=None) -> int:
    """Remind families of open offers whose deadline is within the policy's reminder days."""
    now = now or timezone.now()
    days = AllocationPolicy.current().reminder_days
    due = Offer.objects.filter(
        status=Offer.Status.OPEN,
        reminded_at__isnull=True,
        deadline__gt=now,
        deadline__lte=now + timedelta(days=days),
    ).select_related("application", "facility", "child")
    count = 0
    for offer in due:
        with transaction.atomic():
            if not Offer.objects.filter(pk=offer.pk, reminded_at__isnull=True).update(
                reminded_at=now
            ):
                continue
            _mail_family(offer, "offer_reminder", gettext_noop("Erinnerung: Ihr Platzangebot"))
            count += 1
    return count


def _mail_family(offer: Offer, template: str, subject: str) -> None:
    application = offer.application
    recipients = list(application.family.guardians.values_list("email", flat=True))
    if not recipients:
        return
    with translation.override(_family_language(application)):
        text = render_to_string(f"registrations/email/{template}.txt", {"offer": offer})
        queue_email(
            to=recipients,
            subject=f"{translation.gettext(subject)} {application.reference}",
            text=text,
        )


def offer_next(facility_id: int, age_group: str, care_hours: int, start_date) -> Offer | None:
    """Follow-up round: offer a freed place to the next child on the category's waiting list.

    The waiting list is the latest binding run's ranking of that category's unplaced
    applicants (``waiting_position``), skipping children who meanwhile hold an open or
    accepted offer, withdrew the wish, or belong to a together-group (one freed place
    cannot host a group). Returns the new offer, or None when the list is exhausted.
    """
    year = start_date.year if start_date.month >= 8 else start_date.year - 1
    run = (
        AllocationRun.objects.filter(
            binding=True,
            kita_year=year,
            status=AllocationRun.Status.DONE,
            age_groups__contains=[age_group],
        )
        .order_by("-pk")
        .first()
    )
    if run is None:
        return None
    key = f"f{facility_id}"
    candidates = []
    for outcome in run.outcomes.filter(
        facility__isnull=True,
        daycare_district__isnull=True,
        age_group=age_group,
        care_hours=care_hours,
    ).select_related("application"):
        for entry in outcome.explanation:
            if entry["facility"] == key and entry.get("waiting_position"):
                candidates.append((entry["waiting_position"], outcome))
                break
    candidates.sort(key=lambda item: item[0])
    busy = set(
        Offer.objects.filter(
            child_id__in=[o.child_id for _, o in candidates],
            status__in=(Offer.Status.OPEN, Offer.Status.ACCEPTED),
        ).values_list("child_id", flat=True)
    )
    for _position, outcome in candidates:
        if outcome.child_id in busy:
            continue
        application = outcome.application
        if application.status != Application.Status.ACTIVE:
            continue
        if application.place_together and application.children.count() > 1:
            continue
        wish = Wish.objects.filter(
            application=application, facility_id=facility_id, status__in=OPEN_WISH_STATUSES
        ).first()
        if wish is None:
            continue
        offer = Offer.objects.create(
            run=run,
            source=Offer.Source.FOLLOW_UP,
            application=application,
            child_id=outcome.child_id,
            wish=wish,
            facility_id=facility_id,
            age_group=age_group,
            care_hours=care_hours,
            start_date=application.start_date,
            deadline=_deadline(),
        )
        Wish.objects.filter(pk=wish.pk).update(
            status=WishStatus.OFFER, status_changed_at=timezone.now()
        )
        _history(application, "offer_made", facility=facility_id, follow_up=True)
        record_audit(None, "offer.follow_up", offer)
        _mail_family(offer, "offer_made", gettext_noop("Platzangebot"))
        return offer
    return None


def make_facility_offer(actor, wish: Wish, child: Child) -> Offer:
    """Decentralised mode: facility staff offer their place to a child from their list.

    The one-offer-at-a-time lock: a child holding an open offer anywhere in the tenant
    cannot get a second one (checked under a row lock on the child, and by the partial
    unique index as the last line)."""
    policy = AllocationPolicy.current()
    if policy.mode != AllocationPolicy.Mode.DECENTRAL:
        raise ValidationError(_("Angebote der Kitas gibt es nur im dezentralen Verfahren."))
    with transaction.atomic():
        child = Child.objects.select_for_update().get(pk=child.pk)
        wish = Wish.objects.select_for_update().select_related("application").get(pk=wish.pk)
        application = wish.application
        if (
            application.status != Application.Status.ACTIVE
            or wish.status not in OPEN_WISH_STATUSES
            or not application.children.filter(pk=child.pk).exists()
        ):
            raise ValidationError(_("Dieser Wunsch ist nicht mehr offen."))
        if Offer.objects.filter(
            child=child, status__in=(Offer.Status.OPEN, Offer.Status.ACCEPTED)
        ).exists():
            raise ValidationError(
                _("Dieses Kind hat bereits ein offenes oder angenommenes Platzangebot.")
            )
        age = age_group_at(child.birth_date, application.start_date)
        year = (
            application.start_date.year
            if application.start_date.month >= 8
            else application.start_date.year - 1
        )
        # capacities() already subtracts the places held by open and accepted offers
        free = capacities(year).get(wish.facility_id, {}).get((age, application.care_hours), 0)
        if free <= 0:
            raise ValidationError(
                _("Für %(group)s/%(hours)d h sind keine freien Plätze mehr übrig.")
                % {"group": age, "hours": application.care_hours}
            )
        try:
            with transaction.atomic():
                offer = Offer.objects.create(
                    source=Offer.Source.FACILITY,
                    application=application,
                    child=child,
                    wish=wish,
                    facility_id=wish.facility_id,
                    age_group=age,
                    care_hours=application.care_hours,
                    start_date=application.start_date,
                    deadline=_deadline(),
                    created_by_id=getattr(actor, "pk", None),
                )
        except IntegrityError:
            raise ValidationError(
                _("Dieses Kind hat bereits ein offenes oder angenommenes Platzangebot.")
            ) from None
        Wish.objects.filter(pk=wish.pk).update(
            status=WishStatus.OFFER, status_changed_at=timezone.now()
        )
        _history(application, "offer_made", facility=wish.facility_id)
        record_audit(actor, "offer.made", offer)
        _mail_family(offer, "offer_made", gettext_noop("Platzangebot"))
    return offer


def offers_for_family(family) -> list[Offer]:
    return list(
        Offer.objects.filter(application__family=family)
        .select_related("facility", "child", "application__fee_declaration", "contract")
        .order_by("-created_at")
    )


def statistics(kita_year: int | None = None) -> list[dict]:
    """Per district and age group: places (Kitas + family daycare of the Kita year),
    applications, placed, unplaced, unfilled places, the share placed, and the coverage rate
    against the district's child population (``services_planning.add_coverage``; none
    without population figures), plus a total per age group. Built from the latest done run
    of the Kita year (binding preferred; without a year, of any year) plus accepted offers."""
    from .models import AgeGroupOffer, District, Facility
    from .services_planning import add_coverage, daycare_places_by_age, upcoming_kita_year

    run_filter = Q(status=AllocationRun.Status.DONE)
    if kita_year is not None:
        run_filter &= Q(kita_year=kita_year)
    run = AllocationRun.objects.filter(run_filter).order_by("-binding", "-pk").first()
    year = run.kita_year if run is not None else (kita_year or upcoming_kita_year())
    places = Counter()
    for district_id, age, count in AgeGroupOffer.objects.values_list(
        "facility__district_id", "age_group", "places"
    ):
        places[(district_id, age)] += count
    daycare = daycare_places_by_age(year)
    applications = Counter()
    placed = Counter()
    if run is not None:
        facility_district = dict(Facility.objects.values_list("pk", "district_id"))
        for outcome in run.outcomes.select_related("application"):
            district = outcome.application.district_id
            applications[(district, outcome.age_group)] += 1
            if outcome.placed:
                target = (
                    facility_district.get(outcome.facility_id)
                    if outcome.facility_id
                    else outcome.daycare_district_id
                )
                placed[(target, outcome.age_group)] += 1
    rows = []
    for district in District.objects.order_by("name"):
        for age in AgeGroup.values:
            key = (district.pk, age)
            total = places[key] + daycare.get(key, 0)
            rows.append(
                {
                    "district": district.name,
                    "district_id": district.pk,
                    "kita_year": year,
                    "age_group": age,
                    "kita_places": places[key],
                    "daycare_places": daycare.get(key, 0),
                    "places": total,
                    "applications": applications[key],
                    "placed": placed[key],
                    "unplaced": max(0, applications[key] - placed[key]),
                    "unfilled": max(0, total - placed[key]) if run else total,
                    "placed_share": (
                        round(100 * placed[key] / applications[key], 1)
                        if applications[key]
                        else None
                    ),
                }
            )
    return add_coverage(rows, year)


def run_json(run: AllocationRun) -> str:
    return json.dumps(run.result, ensure_ascii=False)


def set_circumstances(
    actor,
    application: Application,
    *,
    both_working: bool,
    single_parent: bool,
    resident: bool,
    sibling_facility_ids: list[int],
    carrier_rule_ids: list[int],
    hardship: bool | None = None,
    verified: bool = False,
):
    """Store what the admission criteria look at for one application.

    Families declare (their change resets the youth office's check); the youth office may
    also set hardship/referral and mark the details as checked. Atomic; ValidationError on
    unknown facilities or rules."""
    from .models import Facility
    from .models_allocation import ApplicationCircumstances, Criterion, CriterionKind
    from .services import _ensure_editable

    is_office = hardship is not None
    if not is_office:
        _ensure_editable(application)
    facilities = set(
        Facility.objects.filter(pk__in=sibling_facility_ids).values_list("pk", flat=True)
    )
    rules = set(
        Criterion.objects.filter(
            pk__in=carrier_rule_ids, kind=CriterionKind.CARRIER_RULE, active=True
        ).values_list("pk", flat=True)
    )
    errors = {}
    if facilities != set(sibling_facility_ids):
        errors["sibling_facilities"] = [_("Bitte wählen Sie Kitas aus der Liste.")]
    if rules != set(carrier_rule_ids):
        errors["carrier_rules"] = [_("Bitte wählen Sie Kriterien aus der Liste.")]
    if len(sibling_facility_ids) > 5:
        errors.setdefault("sibling_facilities", []).append(_("Höchstens 5 Kitas."))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        info, _created = ApplicationCircumstances.objects.get_or_create(application=application)
        info.both_working = both_working
        info.single_parent = single_parent
        info.resident = resident
        if is_office:
            info.hardship = hardship
            info.verified_at = timezone.now() if verified else None
        else:
            info.verified_at = None
        info.save()
        info.sibling_facilities.set(facilities)
        info.carrier_rules.set(rules)
        record_audit(actor, "application.circumstances_saved", application, verified=verified)
    return info


def release_withdrawn_offers() -> int:
    """Open offers whose wish or application the family withdrew meanwhile are withdrawn and
    their places offered to the next child (run by the periodic offer task)."""
    count = 0
    stale = Offer.objects.filter(status=Offer.Status.OPEN).filter(
        Q(application__status__in=(Application.Status.WITHDRAWN, Application.Status.MERGED))
        | Q(wish__status=WishStatus.WITHDRAWN)
    )
    for offer_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            offer = (
                Offer.objects.select_for_update(skip_locked=True)
                .select_related("application")
                .filter(pk=offer_id, status=Offer.Status.OPEN)
                .first()
            )
            if offer is None:
                continue
            offer.status = Offer.Status.WITHDRAWN
            offer.responded_at = timezone.now()
            offer.save(update_fields=["status", "responded_at"])
            record_audit(None, "offer.withdrawn", offer)
            offer_next(offer.facility_id, offer.age_group, offer.care_hours, offer.start_date)
            count += 1
    return count


DRY_RUN_RETENTION = timedelta(days=90)


def purge_dry_runs(now=None) -> int:
    """Delete dry runs (snapshots, outcomes) older than 90 days; binding runs stay as the
    record behind the offers and are deleted with the applications' data."""
    now = now or timezone.now()
    old = AllocationRun.objects.filter(binding=False, created_at__lt=now - DRY_RUN_RETENTION)
    count = old.count()
    old.delete()
    return count


def purge_orphan_outcomes() -> int:
    """Delete run outcomes whose run, application, child, Kita or district no longer exists.

    ``RunOutcome`` has no database foreign keys (ADR 0009); the ORM's cascade deletes the
    outcomes with their rows, but an application deleted while a run was storing its
    outcomes (or rows deleted outside the ORM) would leave some behind. Run by the periodic
    offer task; one statement, whatever the number of runs."""
    from .models import District, Facility

    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {table(RunOutcome)} o
            WHERE NOT EXISTS (SELECT 1 FROM {table(AllocationRun)} r WHERE r.id = o.run_id)
               OR NOT EXISTS (SELECT 1 FROM {table(Application)} a WHERE a.id = o.application_id)
               OR NOT EXISTS (SELECT 1 FROM {table(Child)} c WHERE c.id = o.child_id)
               OR (o.facility_id IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM {table(Facility)} f WHERE f.id = o.facility_id))
               OR (o.daycare_district_id IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM {table(District)} d WHERE d.id = o.daycare_district_id))
            """
        )
        return cursor.rowcount


def save_place_grid(model, kita_year: int, places: dict, **owner) -> None:
    """Write a grid of places per (age group, care hours) for one owner (a facility's
    `PlaceCapacity`, a district's `DaycareCapacity`) and Kita year: an int sets the row,
    ``None`` removes it. Call inside the caller's transaction, after its checks."""
    for (age, hours), value in places.items():
        key = {**owner, "kita_year": kita_year, "age_group": age, "care_hours": hours}
        if value is None:
            model.objects.filter(**key).delete()
        else:
            model.objects.update_or_create(**key, defaults={"places": value})


def set_capacities(actor, facility, kita_year: int, places: dict[tuple[str, int], int | None]):
    """Set a facility's free places per age group × care hours for a Kita year (``None``
    removes the row: the default split applies again). Atomic; ValidationError per cell."""
    from .models_allocation import PlaceCapacity

    errors = {}
    for (age, hours), value in places.items():
        if age not in AgeGroup.values or hours not in facility.care_hours:
            errors[f"{age}_{hours}"] = [_("Diese Kombination bietet die Kita nicht an.")]
        elif value is not None and not 0 <= value <= 500:
            errors[f"{age}_{hours}"] = [_("Bitte eine Zahl von 0 bis 500 angeben.")]
    if not 2000 <= kita_year <= 2100:
        errors["kita_year"] = [_("Bitte geben Sie ein Kita-Jahr wie 2027 an.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        save_place_grid(PlaceCapacity, kita_year, places, facility=facility)
        record_audit(actor, "capacities.saved", facility, kita_year=kita_year)
