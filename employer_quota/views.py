from django.shortcuts import render

from .access import HR_ROLES
from .models import EmployerProfile


def profile(request):
    employer = EmployerProfile.objects.prefetch_related("contacts").first()
    return render(
        request, "employer_quota/profile.html", {"profile": employer, "hr_roles": HR_ROLES}
    )
