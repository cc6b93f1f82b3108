"""Facility profiles edited by carrier and facility staff: texts, hours, contact, photos.

Each function checks that the acting user may edit the facility, validates (raising
ValidationError with messages per field), writes in one transaction and records an audit entry.

Photos: checked by their content with Pillow (JPEG, PNG or WebP only), at most 5 MB and
8000 px per side, then re-encoded as JPEG of at most 1600 px. Re-encoding drops every metadata
block (EXIF with camera, GPS position and date, XMP, ICC comments); the stored file holds pixels
only. Files are stored per schema (`<schema>/facility-photos/<random>.jpg`, kitaportal.storage)
and deleted with their row.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import time

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from tenants.accounts.models import Role
from tenants.common.services import record_audit

from .models import Facility, FacilityPhoto, StaffAssignment

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_SOURCE_SIDE = 8000
MIN_SOURCE_SIDE = 200
MAX_STORED_SIDE = 1600
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
JPEG_QUALITY = 85


def editable_facilities(user) -> QuerySet[Facility]:
    """The facilities whose profile `user` may edit: the youth office all, carrier staff their
    carrier's, facility staff their own; nobody else any."""
    if not getattr(user, "is_authenticated", False):
        return Facility.objects.none()
    if user.role == Role.YOUTH_OFFICE:
        return Facility.objects.all()
    assignment = StaffAssignment.objects.filter(user=user).first()
    if assignment is None:
        return Facility.objects.none()
    if user.role == Role.CARRIER_STAFF and assignment.carrier_id:
        return Facility.objects.filter(carrier_id=assignment.carrier_id)
    if user.role == Role.FACILITY_STAFF and assignment.facility_id:
        return Facility.objects.filter(pk=assignment.facility_id)
    return Facility.objects.none()


def _ensure_may_edit(actor, facility: Facility) -> None:
    if not editable_facilities(actor).filter(pk=facility.pk).exists():
        raise PermissionDenied("not allowed to edit this facility")


@dataclass
class ProfileInput:
    concept: str
    closing_days: str
    opens_at: time
    closes_at: time
    phone: str
    email: str


PROFILE_FIELDS = ("concept", "closing_days", "opens_at", "closes_at", "phone", "email")


@transaction.atomic
def update_facility_profile(actor, facility: Facility, data: ProfileInput) -> Facility:
    """Save the profile texts, opening hours and contact details of one facility."""
    _ensure_may_edit(actor, facility)
    if data.opens_at >= data.closes_at:
        raise ValidationError({"closes_at": _("Die Kita muss nach der Öffnungszeit schließen.")})
    facility = Facility.objects.select_for_update().get(pk=facility.pk)
    changed = []
    for name in PROFILE_FIELDS:
        value = getattr(data, name)
        if isinstance(value, str):
            value = value.strip()
        if getattr(facility, name) != value:
            setattr(facility, name, value)
            changed.append(name)
    if changed:
        facility.full_clean(exclude=["slug"])
        facility.save(update_fields=changed)
        record_audit(actor, "facility.profile_updated", facility, fields=changed)
    return facility


def _reencode(upload) -> bytes:
    """Validate an uploaded image by its content and return it re-encoded as a clean JPEG."""
    size = getattr(upload, "size", None)
    if size is None or size > MAX_UPLOAD_BYTES:
        raise ValidationError({"image": _("Das Foto ist zu groß: höchstens 5 MB sind erlaubt.")})
    if size == 0:
        raise ValidationError({"image": _("Die Datei ist leer.")})
    upload.seek(0)
    raw = upload.read()
    not_an_image = ValidationError(
        {"image": _("Die Datei ist kein Foto. Erlaubt sind JPEG, PNG und WebP.")}
    )
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format
            width, height = probe.size
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise not_an_image from None
    if kind not in ALLOWED_FORMATS:
        raise ValidationError(
            {
                "image": _(
                    "Dieses Bildformat ist nicht erlaubt (%(kind)s). Erlaubt sind JPEG, "
                    "PNG und WebP."
                )
                % {"kind": kind}
            }
        )
    if max(width, height) > MAX_SOURCE_SIDE:
        raise ValidationError(
            {"image": _("Das Foto hat zu viele Pixel: höchstens 8000 Pixel pro Seite.")}
        )
    if min(width, height) < MIN_SOURCE_SIDE:
        raise ValidationError(
            {"image": _("Das Foto ist zu klein: mindestens 200 Pixel pro Seite.")}
        )
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "P"):
                image = image.convert("RGBA")
                background = Image.new("RGB", image.size, (255, 255, 255))
                background.paste(image, mask=image.getchannel("A"))
                image = background
            elif image.mode != "RGB":
                image = image.convert("RGB")
            image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS)
            clean = Image.new("RGB", image.size)
            clean.paste(image)
            output = io.BytesIO()
            clean.save(output, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    except (OSError, ValueError, Image.DecompressionBombError):
        raise not_an_image from None
    return output.getvalue()


@transaction.atomic
def add_facility_photo(actor, facility: Facility, upload, alt_text: str) -> FacilityPhoto:
    """Add one photo (at most three per facility), re-encoded without metadata."""
    _ensure_may_edit(actor, facility)
    facility = Facility.objects.select_for_update().get(pk=facility.pk)
    alt_text = " ".join((alt_text or "").split())
    if not alt_text:
        raise ValidationError(
            {"alt_text": _("Bitte beschreiben Sie, was auf dem Foto zu sehen ist.")}
        )
    if len(alt_text) > 200:
        raise ValidationError({"alt_text": _("Höchstens 200 Zeichen.")})
    existing = list(
        FacilityPhoto.objects.filter(facility=facility).values_list("position", flat=True)
    )
    if len(existing) >= FacilityPhoto.MAX_PER_FACILITY:
        raise ValidationError(
            {"image": _("Eine Kita kann höchstens 3 Fotos zeigen. Bitte erst ein Foto entfernen.")}
        )
    content = _reencode(upload)
    photo = FacilityPhoto(
        facility=facility, alt_text=alt_text, position=max(existing, default=0) + 1
    )
    name = f"{uuid.uuid4().hex}.jpg"  # the storage puts it in the tenant's folder
    photo.image.save(name, ContentFile(content), save=False)
    stored = photo.image.name
    storage = photo.image.storage
    try:
        photo.save()
        record_audit(actor, "facility.photo_added", facility, photo_id=photo.pk)
    except Exception:
        storage.delete(stored)
        raise
    return photo


@transaction.atomic
def remove_facility_photo(actor, photo: FacilityPhoto) -> None:
    """Remove a photo; its file is deleted once the removal is committed."""
    _ensure_may_edit(actor, photo.facility)
    stored, storage, photo_id = photo.image.name, photo.image.storage, photo.pk
    facility = photo.facility
    photo.delete()
    record_audit(actor, "facility.photo_removed", facility, photo_id=photo_id)
    transaction.on_commit(lambda: storage.delete(stored))
