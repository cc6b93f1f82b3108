"""URL patterns every host serves: language switch, login/logout, the tenant's own media."""

import re

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path, reverse_lazy

from tenants.accounts.forms import OutboxPasswordResetForm

from .storage import serve_tenant_media

accounts_patterns = (
    [
        path(
            "anmelden/",
            auth_views.LoginView.as_view(template_name="accounts/login.html"),
            name="login",
        ),
        path("abmelden/", auth_views.LogoutView.as_view(), name="logout"),
        path(
            "passwort/",
            auth_views.PasswordResetView.as_view(
                form_class=OutboxPasswordResetForm,
                template_name="accounts/password_reset.html",
                email_template_name="accounts/email/password_reset.txt",
                subject_template_name="accounts/email/password_reset_subject.txt",
                success_url=reverse_lazy("accounts:password_reset_done"),
            ),
            name="password_reset",
        ),
        path(
            "passwort/gesendet/",
            auth_views.PasswordResetDoneView.as_view(
                template_name="accounts/password_reset_done.html"
            ),
            name="password_reset_done",
        ),
        path(
            "passwort/neu/<uidb64>/<token>/",
            auth_views.PasswordResetConfirmView.as_view(
                template_name="accounts/password_reset_confirm.html",
                success_url=reverse_lazy("accounts:password_reset_complete"),
            ),
            name="password_reset_confirm",
        ),
        path(
            "passwort/fertig/",
            auth_views.PasswordResetCompleteView.as_view(
                template_name="accounts/password_reset_complete.html"
            ),
            name="password_reset_complete",
        ),
    ],
    "accounts",
)

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("konto/", include(accounts_patterns)),
    # Uploads of the host's own tenant only (kitaportal.storage), in every environment.
    re_path(
        rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.+)$",
        serve_tenant_media,
        name="tenant-media",
    ),
]
