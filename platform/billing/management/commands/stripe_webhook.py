"""Register the platform's Stripe webhook endpoint with the pinned API version.

    kitaportal stripe_webhook https://kitaportal.example/stripe/webhook/

Prints the endpoint id and the signing secret to put into STRIPE_WEBHOOK_SECRET."""

from django.core.management.base import BaseCommand, CommandError

from integrations import stripe as stripe_api


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser):
        parser.add_argument("url", help="https://<BASE_DOMAIN>/stripe/webhook/")

    def handle(self, *args, url: str, **options):
        if not url.endswith("/stripe/webhook/"):
            raise CommandError("The URL must end with /stripe/webhook/.")
        try:
            endpoint = stripe_api.create_webhook_endpoint(url)
        except stripe_api.StripeError as exc:
            raise CommandError(f"Stripe refused: {exc}") from exc
        self.stdout.write(f"endpoint {endpoint['id']} (API version {endpoint['api_version']})")
        self.stdout.write(f"STRIPE_WEBHOOK_SECRET={endpoint.get('secret', '')}")
