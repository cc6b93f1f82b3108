"""Plans, subscriptions, self-service sign-up and Stripe webhooks (public schema)."""
