"""Sign-up and Stripe webhook on the platform host."""

from django.urls import path

from . import views_public as views

app_name = "billing"

urlpatterns = [
    path("anmelden/", views.signup_start, name="signup-start"),
    path("anmelden/gesendet/", views.signup_sent, name="signup-sent"),
    path("anmelden/bestaetigen/<str:token>/", views.signup_verify, name="signup-verify"),
    path("anmelden/subdomain-pruefen/", views.subdomain_check, name="subdomain-check"),
    path("anmelden/<uuid:pk>/subdomain/", views.signup_subdomain, name="signup-subdomain"),
    path("anmelden/<uuid:pk>/tarif/", views.signup_plan, name="signup-plan"),
    path("anmelden/<uuid:pk>/bezahlen/", views.signup_pay, name="signup-pay"),
    path("anmelden/<uuid:pk>/fortschritt/", views.signup_progress, name="signup-progress"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
