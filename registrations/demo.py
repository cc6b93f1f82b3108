"""Deterministic, seeded demo data for municipality tenants (fictional names, real scale).

Stadt Bochum: 190 facilities with exactly 11,435 places in the six Stadtbezirke, about 60
carriers and 610 family-daycare persons (the figures of Bochum's Kita portal). Kreis Düren:
its towns as districts and about 40 facilities.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import time
from decimal import Decimal

from django.db import transaction
from django.utils.text import slugify

from .models import (
    AgeGroup,
    AgeGroupOffer,
    Carrier,
    District,
    Facility,
    FacilityTag,
    FamilyDaycarePerson,
)


@dataclass(frozen=True)
class DistrictSpec:
    name: str
    lat: float
    lon: float
    postcodes: tuple[str, ...]
    facilities: int
    daycare_persons: int


@dataclass(frozen=True)
class MunicipalitySpec:
    city: str
    districts: tuple[DistrictSpec, ...]
    total_places: int
    carriers: int
    seed: int
    city_is_district: bool = False  # in a Kreis, each town is its own "city"


BOCHUM = MunicipalitySpec(
    city="Bochum",
    districts=(
        DistrictSpec(
            "Mitte", 51.4818, 7.2162, ("44787", "44789", "44791", "44793", "44795"), 50, 160
        ),
        DistrictSpec("Wattenscheid", 51.4807, 7.1390, ("44866", "44867", "44869"), 28, 90),
        DistrictSpec("Nord", 51.5120, 7.2370, ("44805", "44807"), 25, 80),
        DistrictSpec("Ost", 51.4870, 7.2990, ("44892", "44894"), 30, 95),
        DistrictSpec("Süd", 51.4330, 7.2340, ("44797", "44799"), 27, 90),
        DistrictSpec("Südwest", 51.4300, 7.1700, ("44879",), 30, 95),
    ),
    total_places=11_435,
    carriers=60,
    seed=2017,
)

KREIS_DUEREN = MunicipalitySpec(
    city="Kreis Düren",
    districts=(
        DistrictSpec("Düren", 50.8003, 6.4826, ("52349", "52351", "52353", "52355"), 12, 45),
        DistrictSpec("Jülich", 50.9220, 6.3583, ("52428",), 5, 15),
        DistrictSpec("Kreuzau", 50.7470, 6.4910, ("52372",), 3, 8),
        DistrictSpec("Langerwehe", 50.8170, 6.3540, ("52379",), 2, 6),
        DistrictSpec("Linnich", 50.9790, 6.2690, ("52441",), 2, 5),
        DistrictSpec("Merzenich", 50.8270, 6.5260, ("52399",), 2, 5),
        DistrictSpec("Niederzier", 50.8830, 6.4680, ("52382",), 3, 7),
        DistrictSpec("Nörvenich", 50.8080, 6.6390, ("52388",), 2, 5),
        DistrictSpec("Aldenhoven", 50.8960, 6.2830, ("52457",), 2, 5),
        DistrictSpec("Inden", 50.8600, 6.3650, ("52459",), 2, 4),
        DistrictSpec("Nideggen", 50.6890, 6.4840, ("52385",), 2, 4),
        DistrictSpec("Titz", 50.9990, 6.4230, ("52445",), 1, 3),
        DistrictSpec("Vettweiß", 50.7380, 6.5990, ("52391",), 1, 3),
        DistrictSpec("Heimbach", 50.6360, 6.4750, ("52396",), 1, 2),
        DistrictSpec("Hürtgenwald", 50.7100, 6.3750, ("52393",), 1, 3),
    ),
    total_places=2_290,
    carriers=18,
    seed=2006,
    city_is_district=True,
)

SPECS = {"bochum": BOCHUM, "kreis-dueren": KREIS_DUEREN}

# Children per Stadtbezirk in the coming Kita year (under 3, 3 to school entry), the youth
# office's planning figures. Plausible for Bochum (about 3,400 births a year, ~10,600 children
# under three) and sized so that the demo's places give U3 coverage rates of 41–55 % per
# district (city: ~48 %, above the goal agreement's 40 % for 2016). Kreis Düren's demo has
# none on purpose: its statistics show "—" where figures are missing.
POPULATION = {
    "bochum": {
        "Mitte": (2_880, 3_170),
        "Wattenscheid": (1_870, 2_060),
        "Nord": (1_290, 1_420),
        "Ost": (1_560, 1_720),
        "Süd": (1_470, 1_620),
        "Südwest": (1_570, 1_730),
    }
}

BIG_CARRIERS = [
    ("Jugendamt {city} – Städtische Kitas", Carrier.Kind.MUNICIPAL, 0.30),
    ("Evangelischer Kita-Verbund {city}", Carrier.Kind.PROTESTANT, 0.14),
    ("Katholische Kita gGmbH Ruhr-Rur", Carrier.Kind.CATHOLIC, 0.14),
    ("Arbeiterwohlfahrt Unterbezirk {city}", Carrier.Kind.WELFARE, 0.08),
    ("Deutsches Rotes Kreuz Kreisverband {city}", Carrier.Kind.WELFARE, 0.05),
    ("Diakonisches Werk {city}", Carrier.Kind.PROTESTANT, 0.04),
    ("Caritasverband {city}", Carrier.Kind.CATHOLIC, 0.04),
    ("Paritätische Kinderwelten {city}", Carrier.Kind.WELFARE, 0.03),
]
SMALL_CARRIER_STEMS = [
    "Elterninitiative Kleine Strolche",
    "Elterninitiative Wirbelwind",
    "Zwergenstübchen e.V.",
    "Kinderhaus Pusteblume e.V.",
    "Elternverein Spatzennest",
    "Montessori-Kinderhaus e.V.",
    "Waldorfkindergarten-Verein",
    "Kinderladen Rappelkiste e.V.",
    "Elterninitiative Sausewind",
    "Kinderwerkstatt e.V.",
    "Bewegte Kinder gGmbH",
    "Kita Lichtblick e.V.",
    "Elterninitiative Löwenzahn",
    "Verein für Kinderbetreuung",
    "Kinderinsel e.V.",
    "Elternverein Wurzelzwerge",
    "Sternschnuppe e.V.",
    "Kinderzentrum Regenbogen gGmbH",
    "Spielkreis Sonnenschein e.V.",
    "Elterninitiative Frechdachse",
    "Kinderland gGmbH",
    "Kita Kunterbunt e.V.",
    "Elterninitiative Mäuseburg",
    "Forscherkinder e.V.",
    "Elterninitiative Pfiffikus",
    "Kinderhaus Seepferdchen e.V.",
    "Zauberwald e.V.",
    "Elterninitiative Glühwürmchen",
    "Kleine Hände gGmbH",
    "Kinderstube e.V.",
    "Elterninitiative Purzelbaum",
    "Kinderbetreuung Ruhrtal e.V.",
    "Abenteuerland e.V.",
    "Elterninitiative Traumzauberbaum",
    "Kinderhaus Arche e.V.",
    "Villa Kunterbunt e.V.",
    "Elterninitiative Krümelkiste",
    "Bunte Welt gGmbH",
    "Kinderhaus Wolke e.V.",
    "Elterninitiative Schatzkiste",
    "Naturkinder e.V.",
    "Kita Füchse e.V.",
    "Elterninitiative Knirpse",
    "Kinderhaus Kleeblatt e.V.",
    "Elterninitiative Springmaus",
    "Kinderhaus Sternenzelt e.V.",
    "Musikkindergarten e.V.",
    "Elterninitiative Wichtel",
    "Familienwerk gGmbH",
    "Kinderhaus Leuchtturm e.V.",
    "Elterninitiative Bärenbande",
    "Kinderträume gGmbH",
]
THEMES = [
    "Sonnenblume",
    "Regenbogen",
    "Pusteblume",
    "Löwenzahn",
    "Schatzinsel",
    "Sternschnuppe",
    "Kunterbunt",
    "Wirbelwind",
    "Spatzennest",
    "Zauberwald",
    "Kleeblatt",
    "Marienkäfer",
    "Seepferdchen",
    "Arche",
    "Leuchtturm",
    "Wolkenburg",
    "Purzelbaum",
    "Sausewind",
    "Blumenwiese",
    "Eichhörnchen",
    "Igelhaus",
    "Mäuseburg",
    "Abenteuerland",
    "Traumland",
    "Weltentdecker",
    "Kinderinsel",
    "Sonnenschein",
    "Glühwürmchen",
    "Rappelkiste",
    "Pfiffikus",
]
STREETS = [
    "Lindenstraße",
    "Am Park",
    "Kirchstraße",
    "Schulstraße",
    "Gartenweg",
    "Hauptstraße",
    "Rosenweg",
    "Am Sattelgut",
    "Bergstraße",
    "Wiesenstraße",
    "Am Stadtgarten",
    "Mühlenweg",
    "Buchenallee",
    "Ahornweg",
    "Auf dem Kamp",
    "Waldring",
    "Brunnenstraße",
    "Feldstraße",
    "Hofweg",
    "Am Bach",
    "Sonnenweg",
    "Eichenstraße",
    "Birkenweg",
    "Marktstraße",
]
FIRST_NAMES = [
    "Anna",
    "Birgit",
    "Claudia",
    "Daniela",
    "Eva",
    "Fatma",
    "Gabi",
    "Hanna",
    "Ines",
    "Julia",
    "Katrin",
    "Lena",
    "Maria",
    "Nadine",
    "Olga",
    "Petra",
    "Rabia",
    "Sabine",
    "Tanja",
    "Ute",
    "Vera",
    "Yasemin",
    "Zofia",
    "Andreas",
    "Jan",
    "Markus",
    "Stefan",
    "Tobias",
    "Ali",
    "Paul",
]
TAG_WEIGHTS = [
    (FacilityTag.FAMILIENZENTRUM, 0.25),
    (FacilityTag.BEWEGUNGSKITA, 0.15),
    (FacilityTag.INKLUSION, 0.30),
    (FacilityTag.SPRACHKITA, 0.20),
    (FacilityTag.WALDKITA, 0.03),
    (FacilityTag.BILINGUAL, 0.04),
    (FacilityTag.MINT, 0.12),
    (FacilityTag.PLUSKITA, 0.10),
]


CONCEPTS = [
    "Wir arbeiten nach dem situationsorientierten Ansatz: Die Themen der Kinder bestimmen unseren "
    "Alltag. In festen Gruppen mit vertrauten Bezugspersonen erleben die Kinder Sicherheit und "
    "entdecken in offenen Funktionsräumen ihre eigenen Interessen.",
    "Bewegung ist bei uns Alltag: Turnhalle, Bewegungsbaustelle und ein großes Außengelände laden "
    "jeden Tag zum Klettern, Balancieren und Toben ein. Gesundes Frühstück und Mittagessen "
    "bereiten wir täglich frisch zu.",
    "Sprache begleitet alles, was wir tun. Wir singen, erzählen und lesen vor; Kinder mit einer "
    "anderen Familiensprache fördern wir alltagsintegriert. Eltern sind bei uns jederzeit "
    "willkommen.",
    "Als Familienzentrum sind wir Treffpunkt für den ganzen Stadtteil: mit Elterncafé, "
    "Beratungssprechstunden und Kursen. Die Kinder lernen in altersgemischten Gruppen "
    "voneinander.",
    "Wir sind viel draußen: im Garten, im nahen Wald und auf dem Spielplatz. Beim Forschen mit "
    "Wasser, Erde und Licht gehen die Kinder ihren Fragen nach, begleitet von unseren "
    "Fachkräften.",
    "In unserer inklusiven Kita spielen und lernen Kinder mit und ohne Behinderung gemeinsam. "
    "Heilpädagogische Fachkräfte und Therapeutinnen arbeiten im Haus mit.",
    "Nach der Pädagogik Maria Montessoris schaffen wir eine vorbereitete Umgebung, in der die "
    "Kinder selbstständig wählen, womit sie sich beschäftigen. „Hilf mir, es selbst zu tun.“",
]
CLOSING_DAYS = [
    "drei Wochen in den Sommerferien, zwischen Weihnachten und Neujahr, zwei Konzeptionstage",
    "zwei Wochen in den Sommerferien, zwischen den Jahren, Brückentag nach Christi Himmelfahrt",
    "drei Wochen in den Sommerferien (wechselnd), 24. Dezember bis 1. Januar, ein Betriebsausflug",
    "zwischen Weihnachten und Neujahr, drei pädagogische Planungstage; im Sommer durchgehend "
    "geöffnet",
]


def _profile_texts(seed: int, facilities: list[Facility]) -> None:
    """Concept and closing days, from a random stream of their own (the rest stays as it was)."""
    rng = random.Random(seed * 31 + 7)
    for facility in facilities:
        facility.concept = rng.choice(CONCEPTS)
        facility.closing_days = rng.choice(CLOSING_DAYS)


def _split_total(rng: random.Random, count: int, total: int, low: int, high: int) -> list[int]:
    """`count` sizes between low and high that add up to exactly `total`."""
    sizes = [rng.randint(low, high) for _ in range(count)]
    diff = total - sum(sizes)
    step = 1 if diff > 0 else -1
    index = 0
    while diff != 0:
        i = index % count
        if low <= sizes[i] + step <= high + 40:
            sizes[i] += step
            diff -= step
        index += 1
    return sizes


def _carriers(rng: random.Random, spec: MunicipalitySpec) -> list[tuple[Carrier, float]]:
    carriers = []
    for template, kind, share in BIG_CARRIERS:
        carriers.append((Carrier(name=template.format(city=spec.city), kind=kind), share))
    small_count = max(spec.carriers - len(BIG_CARRIERS), 0)
    stems = SMALL_CARRIER_STEMS[:small_count]
    rest = max(0.0, 1.0 - sum(share for _, _, share in BIG_CARRIERS))
    for stem in stems:
        kind = Carrier.Kind.PARENT_INITIATIVE if "Eltern" in stem else Carrier.Kind.INDEPENDENT
        carriers.append((Carrier(name=f"{stem} {spec.city}", kind=kind), rest / len(stems)))
    for carrier, _ in carriers:
        carrier.website = f"https://{slugify(carrier.name)[:40]}.example"
        carrier.email = f"kontakt@{slugify(carrier.name)[:30]}.example"
    return carriers


def _facility_name(rng, carrier: Carrier, used: set[str], street: str) -> str:
    prefix = {
        Carrier.Kind.MUNICIPAL: "Städtische Kita",
        Carrier.Kind.PROTESTANT: "Ev. Kita",
        Carrier.Kind.CATHOLIC: "Kath. Kita",
        Carrier.Kind.WELFARE: "Kita",
        Carrier.Kind.PARENT_INITIATIVE: "Elterninitiative",
        Carrier.Kind.INDEPENDENT: "Kinderhaus",
    }.get(carrier.kind, "Kita")
    name = f"{prefix} {rng.choice(THEMES)}"
    if name in used:
        name = f"{name} {street.replace('Am ', 'am ').replace('Auf ', 'auf ')}"
    suffix = 2
    base = name
    while name in used:
        name = f"{base} {suffix}"
        suffix += 1
    used.add(name)
    return name


@transaction.atomic
def load_municipality_demo(slug: str) -> dict[str, int]:
    """Fill the current (municipality) schema with its demo landscape. Idempotent."""
    spec = SPECS[slug]
    if Facility.objects.exists():
        ensure_demo_population(slug)
        return summary()
    rng = random.Random(spec.seed)
    districts = District.objects.bulk_create(
        [
            District(
                name=d.name,
                slug=slugify(d.name),
                fachberatung_email=f"tagespflege.{slugify(d.name)}@{slugify(spec.city)}.demo",
                latitude=Decimal(str(d.lat)),
                longitude=Decimal(str(d.lon)),
            )
            for d in spec.districts
        ]
    )
    carrier_pairs = _carriers(rng, spec)
    carriers = Carrier.objects.bulk_create([c for c, _ in carrier_pairs])
    weights = [share for _, share in carrier_pairs]
    facility_total = sum(d.facilities for d in spec.districts)
    sizes = _split_total(rng, facility_total, spec.total_places, 30, 95)
    facilities, offers, used = [], [], set()
    size_iter = iter(sizes)
    # every carrier runs at least one facility; the rest follow the carrier shares
    carrier_order = list(carriers) + rng.choices(carriers, weights=weights, k=facility_total)
    carrier_iter = iter(carrier_order)
    for district_spec, district in zip(spec.districts, districts, strict=True):
        for _ in range(district_spec.facilities):
            carrier = next(carrier_iter)
            street = f"{rng.choice(STREETS)} {rng.randint(1, 140)}"
            name = _facility_name(rng, carrier, used, street)
            opens = rng.choice([time(6, 30), time(7, 0), time(7, 0), time(7, 30), time(8, 0)])
            closes = rng.choice([time(14, 0), time(16, 0), time(16, 30), time(17, 0), time(17, 30)])
            care_hours = [25, 35] + ([45] if closes >= time(16, 0) or rng.random() < 0.5 else [])
            tags = [tag.value for tag, p in TAG_WEIGHTS if rng.random() < p]
            facility = Facility(
                name=name,
                slug=slugify(name)[:200],
                carrier=carrier,
                district=district,
                street=street,
                postcode=rng.choice(district_spec.postcodes),
                city=district.name if spec.city_is_district else spec.city,
                latitude=Decimal(str(round(district_spec.lat + rng.uniform(-0.02, 0.02), 5))),
                longitude=Decimal(str(round(district_spec.lon + rng.uniform(-0.03, 0.03), 5))),
                care_hours=care_hours,
                opens_at=opens,
                closes_at=closes,
                tags=tags,
                phone=f"0{rng.randint(200, 249)}1 {rng.randint(100000, 999999)}",
                email=f"kita.{slugify(name)[:40]}@example.org",
            )
            facilities.append(facility)
            places = next(size_iter)
            # about one in seven facilities takes only children from age three (Ü3)
            u3 = 0 if rng.random() < 0.15 else round(places * rng.uniform(0.18, 0.32))
            offers.append((facility, u3, places - u3))
    _profile_texts(spec.seed, facilities)
    Facility.objects.bulk_create(facilities)
    AgeGroupOffer.objects.bulk_create(
        [
            offer
            for facility, u3, ue3 in offers
            for offer in (
                AgeGroupOffer(facility=facility, age_group=AgeGroup.U3, places=u3),
                AgeGroupOffer(facility=facility, age_group=AgeGroup.UE3, places=ue3),
            )
            if offer.places > 0
        ]
    )
    persons = []
    for district_spec, district in zip(spec.districts, districts, strict=True):
        for _ in range(district_spec.daycare_persons):
            persons.append(
                FamilyDaycarePerson(
                    display_name=f"{rng.choice(FIRST_NAMES)} {rng.choice('ABCDEFGHKLMNPRSTW')}.",
                    district=district,
                    places=rng.choice([3, 4, 5, 5, 5]),
                    care_hours=[25, 35] + ([45] if rng.random() < 0.4 else []),
                )
            )
    FamilyDaycarePerson.objects.bulk_create(persons)
    ensure_demo_population(slug)
    return summary()


def ensure_demo_population(slug: str) -> int:
    """The demo's children per district for the coming Kita year and the current one (1 %
    more under-threes a year earlier: births are falling). Idempotent; returns rows added."""
    from .models_family_data import DistrictPopulation
    from .services_planning import upcoming_kita_year

    figures = POPULATION.get(slug)
    if not figures:
        return 0
    year = upcoming_kita_year()
    added = 0
    for district in District.objects.filter(name__in=list(figures)):
        u3, ue3 = figures[district.name]
        for kita_year, factor in ((year, 1.0), (year - 1, 1.01)):
            _row, created = DistrictPopulation.objects.get_or_create(
                district=district,
                kita_year=kita_year,
                defaults={"children_u3": round(u3 * factor), "children_ue3": ue3},
            )
            added += created
    return added


def summary() -> dict[str, int]:
    from django.db.models import Sum

    return {
        "districts": District.objects.count(),
        "carriers": Carrier.objects.count(),
        "facilities": Facility.objects.count(),
        "places": AgeGroupOffer.objects.aggregate(total=Sum("places"))["total"] or 0,
        "daycare_persons": FamilyDaycarePerson.objects.count(),
    }


def load_demo_people(password: str) -> list[tuple[str, str]]:
    """Demo staff for every back-office role and a demo family with one pre-registration.
    Idempotent. Returns (login, role) pairs."""
    from datetime import date, timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from tenants.accounts.models import Role

    from . import services
    from .models import Application, StaffAssignment

    User = get_user_model()
    city = slugify(connection_schema_name()).replace("_", "-")
    district = District.objects.order_by("pk").first()
    carrier = Carrier.objects.order_by("pk").first()
    facility = Facility.objects.filter(carrier=carrier).order_by("pk").first()
    people = [
        (f"admin@{city}.demo", Role.TENANT_ADMIN, {}),
        (f"traeger@{city}.demo", Role.CARRIER_STAFF, {"carrier": carrier}),
        (f"kita@{city}.demo", Role.FACILITY_STAFF, {"facility": facility}),
        (f"tagespflege@{city}.demo", Role.FACHBERATUNG, {"district": district}),
    ]
    logins = []
    for email, role, scope in people:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=password, role=role)
            if scope:
                StaffAssignment.objects.create(user=user, **scope)
        logins.append((email, role))
    parent_email = f"familie@{city}.demo"
    parent = User.objects.filter(email=parent_email).first()
    if parent is None:
        parent = User.objects.create_user(
            email=parent_email,
            password=password,
            role=Role.PARENT,
            first_name="Alex",
            last_name="Beispiel",
        )
    if not Application.objects.filter(family__guardians__user=parent).exists():
        today = timezone.localdate()
        start = date(today.year + (1 if today.month >= 8 else 0), 8, 1)
        birth = start - timedelta(days=2 * 365 + 40)
        wishes = list(
            Facility.objects.filter(
                district=district,
                care_hours__contains=[35],
                age_groups__age_group=AgeGroup.U3,
                age_groups__places__gt=0,
            )
            .order_by("name")
            .values_list("pk", flat=True)[:3]
        )
        services.submit_application(
            parent,
            services.ApplicationInput(
                children=[services.ChildInput("Emil", "Beispiel", birth)],
                guardians=[services.GuardianInput("Alex", "Beispiel", parent_email)],
                start_date=start,
                care_hours=35,
                street="Musterweg 1",
                postcode=district.facilities.values_list("postcode", flat=True).first(),
                district_id=district.pk,
                facility_ids=wishes,
                wants_family_daycare=True,
                family_daycare_district_id=district.pk,
            ),
        )
    logins.append((parent_email, Role.PARENT))
    # Allocation (issue 4): the default criteria catalogue and a fee table from 1 January.
    from .criteria import ensure_default_catalogue
    from .fees import ensure_demo_fee_table

    ensure_default_catalogue()
    ensure_demo_fee_table(date(timezone.localdate().year, 1, 1))
    return logins


def connection_schema_name() -> str:
    from django.db import connection

    return connection.schema_name
