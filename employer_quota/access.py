"""Who may use the employer's back office: HR and the tenant admin. Anyone else: 404."""

import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404

from tenants.accounts.models import Role

HR_ROLES = (Role.HR, Role.TENANT_ADMIN)


def hr_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if request.user.role not in HR_ROLES or getattr(request.tenant, "type", "") != "employer":
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped
