"""Uploaded files per tenant: MEDIA_ROOT/<schema>/<name>, served only on that tenant's host.

django-tenants' TenantFileSystemStorage keeps each schema's files in a folder of its own (the
per-tenant export in tenants/backup.py takes exactly that folder). Its URLs would name the
schema (/media/<schema>/…); ours do not: /media/<name> is resolved against the folder of the
tenant the request's host belongs to (`serve_tenant_media`), so one tenant's host can never
serve another tenant's file, whatever path is asked for.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import Http404
from django.views.static import serve
from django_tenants.files.storage import TenantFileSystemStorage


class TenantMediaStorage(TenantFileSystemStorage):
    @property
    def relative_media_root(self):
        # Not cached: the parent caches it and misses a changed MEDIA_ROOT (override_settings).
        return str(Path(settings.MEDIA_ROOT) / settings.MULTITENANT_RELATIVE_MEDIA_ROOT)

    @property
    def base_url(self):
        return settings.MEDIA_URL


def tenant_media_root(schema_name: str | None = None) -> Path:
    return Path(settings.MEDIA_ROOT) / (schema_name or connection.schema_name)


def serve_tenant_media(request, path: str):
    """A file of the current tenant's media folder (Django checks the path stays inside)."""
    root = tenant_media_root()
    if not root.is_dir():
        raise Http404
    response = serve(request, path, document_root=str(root))
    response["Cache-Control"] = "public, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
