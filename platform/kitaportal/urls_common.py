"""URL patterns every host serves: language switch, login/logout."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

accounts_patterns = (
    [
        path(
            "anmelden/",
            auth_views.LoginView.as_view(template_name="accounts/login.html"),
            name="login",
        ),
        path("abmelden/", auth_views.LogoutView.as_view(), name="logout"),
    ],
    "accounts",
)

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("konto/", include(accounts_patterns)),
]
