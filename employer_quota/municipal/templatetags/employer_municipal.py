"""{% company_daycares %}: employers' company daycares listed in this municipality's finder."""

from django import template
from django.db import connection

from employer_quota.agreements.models import CompanyDaycareListing

register = template.Library()


@register.inclusion_tag("employer_municipal/company_daycares.html")
def company_daycares():
    tenant = getattr(connection, "tenant", None)
    listings = (
        CompanyDaycareListing.objects.filter(municipality=tenant).select_related("employer")
        if tenant is not None
        else []
    )
    return {"listings": listings}
