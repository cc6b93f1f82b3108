"""The demo loader is idempotent and gives a login for every role that exists."""

from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context

from registrations.models import Application
from tenants.demo import load_demo
from tests.conftest import client_for


def test_loading_the_demo_twice_reuses_tenants_and_gives_every_role_a_working_login(
    tenant_registry, db
):
    first = load_demo()
    second = load_demo()
    assert [row["logins"] for row in first] == [row["logins"] for row in second]
    roles = {role for row in first for _, role in row["logins"]}
    assert roles >= {
        "platform_admin",
        "youth_office",
        "carrier_staff",
        "facility_staff",
        "fachberatung",
        "parent",
        "hr",
    }
    city = tenant_registry["city"]
    with tenant_context(city):
        demo_family = Application.objects.filter(
            family__guardians__user__email="familie@bochum.demo"
        )
        assert demo_family.count() == 1, "the demo family's pre-registration, once"
        # plus two RathausKids staff families whose employer code was redeemed (issue 5)
        assert Application.objects.count() == 3
        assert get_user_model().objects.filter(email="traeger@bochum.demo").exists()
    client = client_for(city)
    response = client.post(
        "/konto/anmelden/", {"username": "traeger@bochum.demo", "password": "demo-kitaportal"}
    )
    assert response.status_code == 302
    assert client.get("/verwaltung/voranmeldungen/").status_code == 200
