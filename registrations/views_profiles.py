"""Back office: carrier and facility staff (and the youth office) edit facility profiles.

Only facilities in `profiles.editable_facilities(user)` can be opened; any other is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from kitaportal.forms import apply_service_errors

from . import profiles
from .forms_profiles import FacilityPhotoForm, FacilityProfileForm
from .models import FacilityPhoto


def _facility(request, slug: str):
    return get_object_or_404(
        profiles.editable_facilities(request.user).select_related("carrier", "district"),
        slug=slug,
    )


def _page(request, facility, profile_form, photo_form, status=200):
    photos = FacilityPhoto.objects.filter(facility=facility).order_by("position", "pk")
    return render(
        request,
        "registrations/profile/edit.html",
        {
            "facility": facility,
            "form": profile_form,
            "photo_form": photo_form,
            "photos": photos,
            "max_photos": FacilityPhoto.MAX_PER_FACILITY,
        },
        status=status,
    )


@login_required
def facility_profiles(request):
    facilities = profiles.editable_facilities(request.user).select_related("district")
    return render(
        request,
        "registrations/profile/list.html",
        {"facilities": facilities.order_by("name")},
    )


@login_required
def edit_profile(request, slug: str):
    facility = _facility(request, slug)
    if request.method == "POST":
        form = FacilityProfileForm.for_facility(facility, request.POST)
        if form.is_valid():
            try:
                profiles.update_facility_profile(request.user, facility, form.to_input())
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, _("Das Profil wurde gespeichert."))
                return redirect("facility-profile-edit", slug=facility.slug)
        return _page(request, facility, form, FacilityPhotoForm(), status=400)
    return _page(request, facility, FacilityProfileForm.for_facility(facility), FacilityPhotoForm())


@login_required
@require_POST
def upload_photo(request, slug: str):
    facility = _facility(request, slug)
    form = FacilityPhotoForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            profiles.add_facility_photo(
                request.user, facility, form.cleaned_data["image"], form.cleaned_data["alt_text"]
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, _("Das Foto wurde hinzugefügt."))
            return redirect("facility-profile-edit", slug=facility.slug)
    return _page(request, facility, FacilityProfileForm.for_facility(facility), form, status=400)


@login_required
@require_POST
def remove_photo(request, slug: str, photo_id: int):
    facility = _facility(request, slug)
    photo = get_object_or_404(FacilityPhoto, pk=photo_id, facility=facility)
    profiles.remove_facility_photo(request.user, photo)
    messages.success(request, _("Das Foto wurde entfernt."))
    return redirect("facility-profile-edit", slug=facility.slug)
