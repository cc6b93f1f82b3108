"""Carrier and facility staff edit their own facilities' profiles; photos are checked and
re-encoded without metadata."""

import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context
from PIL import Image

from registrations import profiles
from registrations.models import Facility, FacilityPhoto, StaffAssignment
from tenants.common.models import AuditEntry
from tests.conftest import client_for, make_user

PASSWORD = "pw-Secret-123"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def staff_client(tenant, email, role, **scope):
    user = make_user(tenant, email, role, password=PASSWORD)
    if scope:
        with tenant_context(tenant):
            StaffAssignment.objects.create(user=get_user_model().objects.get(pk=user.pk), **scope)
    client = client_for(tenant)
    response = client.post("/konto/anmelden/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302, "logged in"
    return client, user


@pytest.fixture
def kitas(city):
    """Two facilities of one carrier and one of another carrier, in Bochum."""
    with tenant_context(city):
        first = (
            Facility.objects.select_related("carrier")
            .filter(carrier__name__startswith="Jugendamt")
            .order_by("name")
            .first()
        )
        sibling = Facility.objects.filter(carrier=first.carrier).exclude(pk=first.pk).first()
        foreign = Facility.objects.exclude(carrier=first.carrier).order_by("name").first()
    assert sibling is not None
    return {"own": first, "sibling": sibling, "foreign": foreign}


@pytest.fixture
def carrier_staff(city, kitas):
    return staff_client(city, "traeger@bochum.test", "carrier_staff", carrier=kitas["own"].carrier)


def image_bytes(fmt="JPEG", size=(640, 480), exif=False, mode="RGB") -> bytes:
    image = Image.new(mode, size, (200, 120, 40) if mode == "RGB" else (200, 120, 40, 128))
    output = io.BytesIO()
    extra = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam"  # Make
        data[0x0132] = "2024:05:01 10:00:00"  # DateTime
        data[0x0112] = 6  # orientation: rotate 90°
        extra["exif"] = data.tobytes()
    image.save(output, format=fmt, **extra)
    return output.getvalue()


def upload(client, facility, content, name="foto.jpg", alt="Gruppenraum mit Bauecke", **extra):
    data = {
        "image": SimpleUploadedFile(name, content, content_type="image/jpeg"),
        "alt_text": alt,
        "rights_confirmed": "on",
        **extra,
    }
    return client.post(f"/verwaltung/kitas/{facility.slug}/profil/fotos/", data)


def photo_count(city, facility) -> int:
    with tenant_context(city):
        return FacilityPhoto.objects.filter(facility=facility).count()


def test_carrier_staff_edit_concept_hours_closing_days_and_contact(city, kitas, carrier_staff):
    client, user = carrier_staff
    facility = kitas["own"]
    page = client.get(f"/verwaltung/kitas/{facility.slug}/profil/")
    assert page.status_code == 200 and facility.name in page.content.decode()
    response = client.post(
        f"/verwaltung/kitas/{facility.slug}/profil/",
        {
            "concept": "Wir sind eine kleine Kita am Park und viel draußen.",
            "closing_days": "drei Wochen im Sommer",
            "opens_at": "06:45",
            "closes_at": "17:15",
            "phone": "0234 123456",
            "email": "leitung@kita-park.example",
        },
    )
    assert response.status_code == 302
    with tenant_context(city):
        facility.refresh_from_db()
        audit = AuditEntry.objects.filter(action="facility.profile_updated").last()
    assert facility.concept.startswith("Wir sind eine kleine Kita")
    assert facility.closing_days == "drei Wochen im Sommer"
    assert facility.opens_at.strftime("%H:%M") == "06:45"
    assert facility.email == "leitung@kita-park.example"
    assert audit.actor_id == user.pk and audit.object_id == str(facility.pk)
    assert "concept" in audit.data["fields"]
    public = client_for(city).get(f"/kitas/{facility.slug}/").content.decode()
    assert "Wir sind eine kleine Kita am Park" in public and "06:45–17:15" in public


def test_a_profile_closing_before_it_opens_is_refused_next_to_the_field(city, kitas, carrier_staff):
    client, _ = carrier_staff
    facility = kitas["own"]
    response = client.post(
        f"/verwaltung/kitas/{facility.slug}/profil/",
        {"opens_at": "17:00", "closes_at": "07:00", "email": "kein-email"},
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "gültige E-Mail Adresse" in body
    response = client.post(
        f"/verwaltung/kitas/{facility.slug}/profil/", {"opens_at": "17:00", "closes_at": "07:00"}
    )
    assert "Die Kita muss nach der Öffnungszeit schließen." in response.content.decode()
    with tenant_context(city):
        assert Facility.objects.get(pk=facility.pk).opens_at == facility.opens_at


def test_carrier_staff_can_edit_only_their_carriers_facilities(city, kitas, carrier_staff):
    client, _ = carrier_staff
    assert client.get(f"/verwaltung/kitas/{kitas['sibling'].slug}/profil/").status_code == 200
    assert client.get(f"/verwaltung/kitas/{kitas['foreign'].slug}/profil/").status_code == 404
    response = client.post(
        f"/verwaltung/kitas/{kitas['foreign'].slug}/profil/",
        {"opens_at": "07:00", "closes_at": "16:00", "concept": "gekapert"},
    )
    assert response.status_code == 404
    assert upload(client, kitas["foreign"], image_bytes()).status_code == 404
    listing = client.get("/verwaltung/kitas/").content.decode()
    assert kitas["own"].name in listing and kitas["foreign"].name not in listing


def test_facility_staff_edit_only_their_facility_and_the_youth_office_all(city, kitas):
    client, _ = staff_client(city, "leitung@bochum.test", "facility_staff", facility=kitas["own"])
    assert client.get(f"/verwaltung/kitas/{kitas['own'].slug}/profil/").status_code == 200
    assert client.get(f"/verwaltung/kitas/{kitas['sibling'].slug}/profil/").status_code == 404
    office, _ = staff_client(city, "jugendamt@bochum.test", "youth_office")
    assert office.get(f"/verwaltung/kitas/{kitas['foreign'].slug}/profil/").status_code == 200


def test_parents_other_roles_and_other_tenants_get_404(city, other_city, kitas):
    path = f"/verwaltung/kitas/{kitas['own'].slug}/profil/"
    parent, _ = staff_client(city, "eltern@bochum.test", "parent")
    assert parent.get(path).status_code == 404
    unassigned, _ = staff_client(city, "ohne@bochum.test", "carrier_staff")
    assert unassigned.get(path).status_code == 404
    fachberatung, _ = staff_client(city, "fb@bochum.test", "fachberatung")
    assert fachberatung.get(path).status_code == 404
    outsider, _ = staff_client(other_city, "jugendamt@dueren.test", "youth_office")
    assert outsider.get(path).status_code == 404
    anonymous = client_for(city).get(path)
    assert anonymous.status_code == 302 and "/konto/anmelden/" in anonymous["Location"]


def test_the_service_refuses_an_actor_outside_the_scope(city, kitas):
    user = make_user(city, "fremd@bochum.test", "carrier_staff")
    with tenant_context(city):
        StaffAssignment.objects.create(user_id=user.pk, carrier=kitas["foreign"].carrier)
        with pytest.raises(PermissionDenied):
            profiles.add_facility_photo(
                user, kitas["own"], SimpleUploadedFile("a.jpg", image_bytes()), "Garten"
            )


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "garten.jpg"), ("PNG", "garten.png")])
def test_a_real_photo_is_accepted_and_re_encoded_small_and_without_exif(
    city, kitas, carrier_staff, media_root, fmt, name
):
    client, _ = carrier_staff
    facility = kitas["own"]
    content = image_bytes(fmt, size=(2400, 1200), exif=(fmt == "JPEG"))
    response = upload(client, facility, content, name=name, alt="Garten mit Sandkasten")
    assert response.status_code == 302
    with tenant_context(city):
        photo = FacilityPhoto.objects.get(facility=facility)
        assert AuditEntry.objects.filter(action="facility.photo_added").exists()
    assert photo.alt_text == "Garten mit Sandkasten"
    assert photo.image.name.startswith("facility-photos/")
    stored = Path(media_root) / "bochum" / photo.image.name
    with Image.open(stored) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 1600
        assert not image.getexif(), "no EXIF left"
        assert "exif" not in image.info and "icc_profile" not in image.info
        if fmt == "JPEG":
            assert image.size == (800, 1600), "the EXIF orientation was applied first"
    assert b"SpyCam" not in stored.read_bytes()
    public = client_for(city).get(f"/kitas/{facility.slug}/").content.decode()
    assert f'src="/media/{photo.image.name}"' in public
    assert 'alt="Garten mit Sandkasten"' in public
    served = client_for(city).get(f"/media/{photo.image.name}")
    assert served.status_code == 200


def test_a_tenants_uploads_are_served_on_its_own_host_only(
    city, other_city, kitas, carrier_staff, media_root
):
    client, _ = carrier_staff
    assert upload(client, kitas["own"], image_bytes(), name="garten.jpg").status_code == 302
    with tenant_context(city):
        photo = FacilityPhoto.objects.get(facility=kitas["own"])
    url = f"/media/{photo.image.name}"
    assert client_for(city).get(url).status_code == 200
    assert (Path(media_root) / "bochum" / photo.image.name).is_file()
    assert client_for(other_city).get(url).status_code == 404
    for sneaky in (
        f"/media/../bochum/{photo.image.name}",
        f"/media/%2e%2e/bochum/{photo.image.name}",
    ):
        assert client_for(other_city).get(sneaky).status_code == 404


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"Das ist kein Bild, nur Text.\n" * 20, "foto.jpg", "Die Datei ist kein Foto."),
        (image_bytes("GIF"), "animation.gif", "Dieses Bildformat ist nicht erlaubt (GIF)."),
        (image_bytes("BMP"), "bild.bmp", "Dieses Bildformat ist nicht erlaubt (BMP)."),
        (image_bytes() + b"\0" * (5 * 1024 * 1024), "riesig.jpg", "höchstens 5 MB"),
        (image_bytes("PNG", size=(9000, 300)), "panorama.png", "höchstens 8000 Pixel"),
        (image_bytes("PNG", size=(120, 90)), "winzig.png", "mindestens 200 Pixel"),
    ],
)
def test_a_bad_upload_is_refused_with_a_clear_message_and_nothing_saved(
    city, kitas, carrier_staff, media_root, content, name, message
):
    client, _ = carrier_staff
    response = upload(client, kitas["own"], content, name=name)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert photo_count(city, kitas["own"]) == 0
    assert not any(Path(media_root).rglob("*.*"))


def test_a_photo_needs_alt_text_and_the_rights_confirmation(city, kitas, carrier_staff):
    client, _ = carrier_staff
    response = upload(client, kitas["own"], image_bytes(), alt="   ")
    assert response.status_code == 400
    assert "Dieses Feld ist zwingend erforderlich." in response.content.decode()
    response = client.post(
        f"/verwaltung/kitas/{kitas['own'].slug}/profil/fotos/",
        {"image": SimpleUploadedFile("a.jpg", image_bytes()), "alt_text": "Flur"},
    )
    assert response.status_code == 400
    assert photo_count(city, kitas["own"]) == 0
    with tenant_context(city), pytest.raises(ValidationError) as error:
        profiles.add_facility_photo(
            make_user_in(city), kitas["own"], SimpleUploadedFile("a.jpg", image_bytes()), " "
        )
    assert "alt_text" in error.value.message_dict


def make_user_in(city):
    return get_user_model().objects.get(email="traeger@bochum.test")


def test_a_fourth_photo_is_refused_and_removing_one_makes_room(
    city, kitas, carrier_staff, media_root
):
    client, _ = carrier_staff
    facility = kitas["own"]
    for number in range(3):
        assert upload(client, facility, image_bytes(), alt=f"Raum {number}").status_code == 302
    response = upload(client, facility, image_bytes(), alt="Raum 4")
    assert response.status_code == 400
    assert "höchstens 3 Fotos" in response.content.decode()
    assert photo_count(city, facility) == 3
    assert len(list(Path(media_root).rglob("*.jpg"))) == 3
    with tenant_context(city):
        photo = FacilityPhoto.objects.filter(facility=facility).first()
    response = client.post(f"/verwaltung/kitas/{facility.slug}/profil/fotos/{photo.pk}/entfernen/")
    assert response.status_code == 302
    assert photo_count(city, facility) == 2
    assert upload(client, facility, image_bytes(), alt="Raum 4").status_code == 302
    with tenant_context(city):
        positions = list(
            FacilityPhoto.objects.filter(facility=facility).values_list("alt_text", flat=True)
        )
    assert positions == ["Raum 1", "Raum 2", "Raum 4"]
    assert "Raum 0" not in client_for(city).get(f"/kitas/{facility.slug}/").content.decode()


def test_another_carriers_photo_cannot_be_removed(city, kitas, carrier_staff):
    office, office_user = staff_client(city, "jugendamt@bochum.test", "youth_office")
    assert upload(office, kitas["foreign"], image_bytes(), alt="Eingang").status_code == 302
    with tenant_context(city):
        photo = FacilityPhoto.objects.get(facility=kitas["foreign"])
    client, _ = carrier_staff
    for slug in (kitas["own"].slug, kitas["foreign"].slug):
        response = client.post(f"/verwaltung/kitas/{slug}/profil/fotos/{photo.pk}/entfernen/")
        assert response.status_code == 404
    assert photo_count(city, kitas["foreign"]) == 1
