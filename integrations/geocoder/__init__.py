"""Geocoding for the facility finder's distance sort: a pluggable provider.

`get_geocoder()` returns the provider named by the setting `GEOCODER`:

- ``"centroids"`` (default, offline): a postcode is located at the mean of the coordinates of
  the current schema's facilities with that postcode; a district (name or short name) at the
  district's latitude/longitude, or the mean of its facilities when it has none. No network.
- ``"nominatim"``: an address geocoder on OpenStreetMap's Nominatim API (see
  `NominatimGeocoder`). Not enabled by default; it falls back to the centroids when the
  service is unreachable or finds nothing.

A provider turns a free-text place (postcode, district, address) into a `Point` or `None`.
Queries are never logged (they may be a family's address).
"""

from __future__ import annotations

import json
import logging
import math
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
POSTCODE = re.compile(r"^\d{5}$")


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


class Geocoder(Protocol):
    def locate(self, query: str) -> Point | None:
        """The place a postcode, district or address stands for, or None if unknown."""


def great_circle_km(a: Point, b: Point) -> float:
    """Haversine distance in kilometres (same formula as the finder's SQL)."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


class CentroidGeocoder:
    """Offline provider: postcode and district centroids from the current schema.

    One query per lookup, whatever the number of facilities."""

    def locate(self, query: str) -> Point | None:
        from django.db.models import Avg, Q
        from django.utils.text import slugify

        from registrations.models import District, Facility

        query = " ".join(query.split())
        if not query:
            return None
        if POSTCODE.match(query):
            centre = Facility.objects.filter(postcode=query).aggregate(
                lat=Avg("latitude"), lon=Avg("longitude")
            )
            if centre["lat"] is not None:
                return Point(float(centre["lat"]), float(centre["lon"]))
            return None
        district = (
            District.objects.filter(Q(name__iexact=query) | Q(slug=slugify(query)))
            .annotate(mean_lat=Avg("facilities__latitude"), mean_lon=Avg("facilities__longitude"))
            .first()
        )
        if district is None:
            return None
        if district.latitude is not None and district.longitude is not None:
            return Point(float(district.latitude), float(district.longitude))
        if district.mean_lat is not None:
            return Point(float(district.mean_lat), float(district.mean_lon))
        return None


class NominatimGeocoder:
    """Online address geocoder (OpenStreetMap Nominatim), restricted to Germany.

    Enable with ``GEOCODER = "nominatim"``; set ``GEOCODER_NOMINATIM_URL`` for an own instance
    (the public one allows one request per second and requires a contact in the user agent,
    ``GEOCODER_USER_AGENT``). Postcodes and districts are still answered offline first; the
    network is asked only for other text, and any failure falls back to the centroids.
    """

    def __init__(self, base_url: str, user_agent: str, timeout: float = 3.0):
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout
        self.offline = CentroidGeocoder()

    def locate(self, query: str) -> Point | None:
        local = self.offline.locate(query)
        if local is not None:
            return local
        params = urllib.parse.urlencode(
            {"q": query, "format": "jsonv2", "limit": 1, "countrycodes": "de"}
        )
        request = urllib.request.Request(
            f"{self.base_url}/search?{params}", headers={"User-Agent": self.user_agent}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                results = json.load(response)
        except (OSError, ValueError) as exc:
            logger.warning("geocoder unavailable: %s", exc.__class__.__name__)
            return None
        if not results:
            return None
        return Point(float(results[0]["lat"]), float(results[0]["lon"]))


def get_geocoder() -> Geocoder:
    """The provider chosen by `settings.GEOCODER` (default: the offline centroids)."""
    name = getattr(settings, "GEOCODER", "centroids") or "centroids"
    if name == "centroids":
        return CentroidGeocoder()
    if name == "nominatim":
        return NominatimGeocoder(
            getattr(settings, "GEOCODER_NOMINATIM_URL", "https://nominatim.openstreetmap.org"),
            getattr(settings, "GEOCODER_USER_AGENT", "kitaportal"),
        )
    raise ValueError(f"unknown GEOCODER provider: {name!r}")
