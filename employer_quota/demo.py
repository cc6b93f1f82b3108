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
