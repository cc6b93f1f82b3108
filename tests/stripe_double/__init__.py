"""A local stand-in for Stripe's API, for the calls kitaportal makes (see server.py)."""

from .server import StripeDouble

__all__ = ["StripeDouble"]
