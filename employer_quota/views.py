from django.shortcuts import render

from .models import EmployerProfile


def profile(request):
    employer = EmployerProfile.objects.prefetch_related("contacts").first()
    return render(request, "employer_quota/profile.html", {"profile": employer})
