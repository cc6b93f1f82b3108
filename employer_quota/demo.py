"""Deterministic demo data for employer tenants (fictional contacts)."""

from django.db import transaction

from .models import EmployerProfile, HRContact

EMPLOYERS = {
    "rathauskids": {
        "name": "Stadt Bochum – RathausKids",
        "program_name": "RathausKids",
        "description": (
            "Die Stadt Bochum stellt als Arbeitgeberin Kita-Plätze für die Kinder ihrer "
            "Beschäftigten bereit: in der ersten Phase fünf U3- und zehn Ü3-Plätze in "
            "Einrichtungen im gesamten Stadtgebiet."
        ),
        "employee_count": 6500,
        "street": "Willy-Brandt-Platz 2-6",
        "postcode": "44777",
        "city": "Bochum",
        "contacts": [("Tina Beispiel", "Projektleitung RathausKids", "rathauskids@example.org")],
    },
    "kreismaeuse": {
        "name": "Kreisverwaltung Düren – Kreismäuse",
        "program_name": "Kreismäuse",
        "description": (
            "Betriebliche Kinderbetreuung der Kreisverwaltung Düren für Kinder der "
            "Mitarbeiterinnen und Mitarbeiter im Alter von vier Monaten bis drei Jahren."
        ),
        "employee_count": 1400,
        "street": "Bismarckstraße 16",
        "postcode": "52348",
        "city": "Düren",
        "contacts": [("Erika Muster", "Stelle für Chancengleichheit", "kreismaeuse@example.org")],
    },
}


@transaction.atomic
def load_employer_demo(slug: str) -> dict[str, int]:
    data = dict(EMPLOYERS[slug])
    contacts = data.pop("contacts")
    profile = EmployerProfile.objects.first()
    if profile is None:
        profile = EmployerProfile.objects.create(**data)
        HRContact.objects.bulk_create(
            [
                HRContact(profile=profile, name=name, function=function, email=email)
                for name, function, email in contacts
            ]
        )
    return {"profiles": 1, "contacts": profile.contacts.count()}


# --- Across tenants: reserved places, codes, company daycare, survey (issue 5) ---------------

DEMO_SEED = 2026


class _DemoActor:
    """The demo loader acting in a role (audit entries show the role, no user)."""

    pk = None

    def __init__(self, role: str):
        self.role = role


def _kita_year_start(today):
    from datetime import date

    return date(today.year if today.month >= 8 else today.year - 1, 8, 1)


def load_reserved_places_demo() -> dict[str, int]:
    """RathausKids: 5 U3 and 10 Ü3 reserved places in five Bochum Kitas (one change awaiting
    confirmation), 12 codes issued, 3 redeemed (the demo family's with consent). Kreismäuse:
    the company daycare with two groups and a closed survey with 120 answers. Idempotent."""
    from django_tenants.utils import tenant_context

    from employer_quota.agreements.models import Agreement
    from tenants.models import Tenant

    tenants = {
        t.slug: t
        for t in Tenant.objects.filter(
            slug__in=["bochum", "kreis-dueren", "rathauskids", "kreismaeuse"]
        )
    }
    if len(tenants) < 4:
        return {}
    figures = {}
    if not Agreement.objects.filter(employer=tenants["rathauskids"]).exists():
        figures.update(_rathauskids(tenants["bochum"], tenants["rathauskids"]))
    with tenant_context(tenants["kreismaeuse"]):
        figures.update(_kreismaeuse(tenants["kreis-dueren"]))
    return figures


def _rathauskids(bochum, employer) -> dict[str, int]:
    import uuid
    from datetime import date, timedelta
    from decimal import Decimal

    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from employer_quota.agreements import services as agreements
    from employer_quota.municipal import services as municipal
    from registrations import services as registrations
    from registrations.models import AgeGroup, Application, District, Facility
    from tenants.accounts.models import Role

    office, hr = _DemoActor(Role.YOUTH_OFFICE), _DemoActor(Role.HR)
    today = timezone.localdate()
    valid_from = _kita_year_start(today)
    valid_to = date(valid_from.year + 3, 7, 31)
    with tenant_context(bochum):
        family_app = Application.objects.filter(
            family__guardians__user__email="familie@bochum.demo"
        ).first()
        u3 = list(
            Facility.objects.filter(
                care_hours__contains=[35],
                age_groups__age_group=AgeGroup.U3,
                age_groups__places__gte=6,
            )
            .order_by("pk")
            .values_list("pk", "name")[:2]
        )
        if family_app is not None:
            first = family_app.wishes.order_by("rank").select_related("facility").first()
            if first is not None:
                u3 = [(first.facility_id, first.facility.name)] + [
                    f for f in u3 if f[0] != first.facility_id
                ][:1]
        ue3 = list(
            Facility.objects.filter(
                care_hours__contains=[35],
                age_groups__age_group=AgeGroup.UE3,
                age_groups__places__gte=20,
            )
            .exclude(pk__in=[f[0] for f in u3])
            .order_by("-pk")
            .values_list("pk", "name")[:3]
        )
    plan = [
        (u3[0], "U3", 3),
        (u3[1], "U3", 2),
        (ue3[0], "UE3", 4),
        (ue3[1], "UE3", 3),
        (ue3[2], "UE3", 3),
    ]
    created = []
    for (facility_id, name), group, places in plan:
        agreement = agreements.propose_agreement(
            office,
            municipality=bochum,
            employer=employer,
            facility_id=facility_id,
            facility_name=name,
            terms=agreements.Terms(
                age_group=group,
                places=places,
                care_hours=35,
                valid_from=valid_from,
                valid_to=valid_to,
                monthly_fee=Decimal("520.00") if group == "U3" else Decimal("380.00"),
            ),
        )
        agreements.decide_version(hr, agreement, confirm=True)
        created.append(agreement)
    agreement = created[2]
    agreement.refresh_from_db()
    terms = agreements.Terms(
        **{
            k: getattr(agreement.current, k)
            for k in (
                "age_group",
                "care_hours",
                "valid_from",
                "valid_to",
                "monthly_fee",
                "release_rule",
                "release_month",
                "release_day",
            )
        },
        places=5,
    )
    agreements.propose_change(office, agreement, terms)

    issued = agreements.issue_codes(hr, employer, count=12, channel="print", valid_days=120)
    redeemed = 0
    with tenant_context(bochum):
        start = date(today.year + (1 if today.month >= 8 else 0), 8, 1)
        district = District.objects.order_by("pk").first()
        applications = [(family_app, True)] if family_app is not None else []
        for index, (facility_id, _) in enumerate(ue3[:2]):
            application = registrations.submit_application(
                None,
                registrations.ApplicationInput(
                    children=[
                        registrations.ChildInput(
                            ["Jonas", "Mila"][index],
                            "Rathaus-Demo",
                            start - timedelta(days=365 * 4 + 30 * index),
                        )
                    ],
                    guardians=[
                        registrations.GuardianInput(
                            "Demo", "Beschäftigte", f"beschaeftigte{index + 1}@bochum.demo"
                        )
                    ],
                    start_date=start,
                    care_hours=35,
                    street="Willy-Brandt-Platz 2",
                    postcode="44777",
                    district_id=district.pk,
                    facility_ids=[facility_id],
                    idempotency_key=uuid.uuid5(uuid.NAMESPACE_URL, f"rathauskids-demo-{index}"),
                ),
            )
            applications.append((application, False))
        for (application, share), (_, plain) in zip(applications, issued, strict=False):
            municipal.redeem_code(
                office, application, plain, share_status=share, address="demo", on_behalf=True
            )
            redeemed += 1
    return {"agreements": len(created), "codes_issued": len(issued), "codes_redeemed": redeemed}


SURVEY_ANSWERS = 120


def _kreismaeuse(kreis_dueren) -> dict[str, int]:
    import random
    from datetime import date, time, timedelta
    from decimal import Decimal

    from django.utils import timezone

    from tenants.accounts.models import Role

    from . import daycare, surveys
    from .models import CompanyDaycare, Survey

    hr = _DemoActor(Role.HR)
    figures = {}
    if not CompanyDaycare.objects.exists():
        kita = daycare.save_daycare(
            hr,
            name="Kreismäuse",
            street="Bismarckstraße 16",
            postcode="52348",
            city="Düren",
            opens_at=time(7, 0),
            closes_at=time(16, 30),
            monthly_fee=Decimal("180.00"),
            description="Betreuung für Kinder der Beschäftigten der Kreisverwaltung von vier Monaten bis drei Jahren, in zwei ehemaligen Seminarräumen.",  # noqa: E501
        )
        small = daycare.add_group(
            hr,
            kita,
            name="Krabbelmäuse",
            room="Seminarraum 1",
            capacity=8,
            min_age_months=4,
            max_age_months=18,
        )
        big = daycare.add_group(
            hr,
            kita,
            name="Laufmäuse",
            room="Seminarraum 2",
            capacity=12,
            min_age_months=18,
            max_age_months=36,
        )
        for name, hours, group, qualification in [
            ("Sabine Erzieherin", "39", small, "Erzieherin"),
            ("Jana Erzieherin", "39", big, "Erzieherin"),
            ("Paul Aushilfe", "10", small, "Kinderpfleger"),
            ("Lea Aushilfe", "10", big, "Kinderpflegerin"),
        ]:
            daycare.add_educator(
                hr,
                kita,
                name=name,
                qualification=qualification,
                weekly_hours=Decimal(hours),
                group=group,
            )
        today = timezone.localdate()
        start = date(today.year + (1 if today.month >= 8 else 0), 8, 1)
        children = [("Finn", 10), ("Ella", 24), ("Noah", 8), ("Ida", 30), ("Tom", 6), ("Mara", 20)]
        made = []
        for index, (name, months) in enumerate(children):
            made.append(
                daycare.register_application(
                    hr,
                    kita,
                    child_first_name=name,
                    child_birth_date=start - timedelta(days=int(months * 30.5)),
                    parent_name=f"Beschäftigte {index + 1}",
                    parent_email=f"beschaeftigte{index + 1}@kreis-dueren.demo",
                    start_date=start,
                    weekly_hours=30 if index % 2 else 35,
                )
            )
        for application in made[:2]:
            group = daycare.groups_for(
                kita, application.child_birth_date, application.start_date
            ).first()
            offer = daycare.make_offer(hr, application, group)
            daycare.answer_offer(hr, offer, accept=True)
            daycare.make_contract(hr, offer)
        daycare.make_offer(
            hr,
            made[2],
            daycare.groups_for(kita, made[2].child_birth_date, made[2].start_date).first(),
        )
        daycare.set_listing(hr, kita, kreis_dueren)
        figures["daycare_groups"] = 2
    if not Survey.objects.exists():
        survey = surveys.create_survey(
            hr,
            title="Bedarfsumfrage Kinderbetreuung",
            intro="Wie viel Betreuung brauchen Sie in den nächsten Jahren?",
        )
        surveys.open_survey(hr, survey, with_link=True)
        rng = random.Random(DEMO_SEED)
        questions = {q.key: q for q in survey.questions.all()}
        for _ in range(SURVEY_ANSWERS):
            has_child = rng.random() < 0.55
            data = {"children": str(rng.choice([1, 1, 1, 2, 2, 3]) if has_child else 0)}
            data["need_now_u3"] = str(rng.choice([0, 0, 1, 1, 1, 2]) if has_child else 0)
            data["need_now_ue3"] = str(rng.choice([0, 0, 0, 1]) if has_child else 0)
            data["need_3y_u3"] = str(rng.choice([0, 0, 1]))
            data["need_3y_ue3"] = str(rng.choice([0, 1, 1]) if has_child else 0)
            for key in ("start", "kind", "holidays", "max_fee", "district", "commute", "current"):
                options = questions[key].options
                data[key] = rng.choices(options, weights=list(range(len(options), 0, -1)))[0]
            for key in ("child_ages", "days", "times"):
                options = questions[key].options
                data[key] = rng.sample(options, rng.randint(1, min(3, len(options))))
            surveys.submit_response(survey, data)
        surveys.close_survey(hr, survey)
        figures["survey_answers"] = SURVEY_ANSWERS
    return figures
