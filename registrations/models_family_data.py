"""Data for the parent fee, coverage planning and family daycare (issue 4's follow-ups):
the family's income-bracket declaration, child population per district, and the places of
family daycare (Kindertagespflege) per district.

Imported by ``registrations.models`` (one Django app). Personal data: only
``FeeDeclaration`` (the income *bracket* a family declares for one application, never the
exact income); it is deleted with the application (CASCADE). Population figures and daycare
places are aggregates without personal data.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

AGE_GROUP_CHOICES = [("U3", "U3"), ("UE3", "Ü3")]


class FeeDeclaration(models.Model):
    """The family's declaration for the parent fee of one application: the income bracket of
    the fee table in force (its upper limit; empty = the top bracket), or "keine Angabe"
    (then the top bracket applies). Only the bracket is stored, never the exact income
    (ADR 0008). Editable until the application's contract is countersigned. Personal data;
    deleted with the application."""

    application = models.OneToOneField(
        "registrations.Application",
        on_delete=models.CASCADE,
        related_name="fee_declaration",
        verbose_name=_("Voranmeldung"),
    )
    table = models.ForeignKey(
        "registrations.FeeTable",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("Beitragstabelle"),
    )
    no_answer = models.BooleanField(_("keine Angabe"), default=False)
    income_up_to = models.DecimalField(
        _("Jahreseinkommen bis (leer = höchste Stufe)"),
        max_digits=9,
        decimal_places=0,
        null=True,
        blank=True,
    )
    declared_at = models.DateTimeField(_("angegeben am"), default=timezone.now)

    class Meta:
        verbose_name = _("Einkommensangabe zum Elternbeitrag")
        verbose_name_plural = _("Einkommensangaben zum Elternbeitrag")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(no_answer=False) | models.Q(income_up_to__isnull=True),
                name="no_answer_has_no_bracket",
            )
        ]

    def __str__(self) -> str:
        return f"{self.application_id}"

    @property
    def uses_top_bracket(self) -> bool:
        return self.no_answer or self.income_up_to is None


class DistrictPopulation(models.Model):
    """Children living in one district in one Kita year, as the youth office's planning
    figures (aggregates only): under three, and three to school entry. No personal data."""

    district = models.ForeignKey(
        "registrations.District",
        on_delete=models.CASCADE,
        related_name="population",
        verbose_name=_("Bezirk"),
    )
    kita_year = models.PositiveSmallIntegerField(_("Kita-Jahr (Beginn)"))
    children_u3 = models.PositiveIntegerField(_("Kinder unter 3 Jahren"))
    children_ue3 = models.PositiveIntegerField(_("Kinder von 3 Jahren bis zum Schuleintritt"))
    updated_at = models.DateTimeField(_("geändert am"), auto_now=True)

    class Meta:
        verbose_name = _("Kinder im Bezirk")
        verbose_name_plural = _("Kinder je Bezirk")
        ordering = ["kita_year", "district__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["district", "kita_year"], name="one_population_per_district_year"
            )
        ]

    def __str__(self) -> str:
        return f"{self.district_id} {self.kita_year}"


class DaycareCapacity(models.Model):
    """Places of family daycare (Kindertagespflege) in one district for one Kita year per age
    group × care hours, as the allocation engine's ``KTP:<district>`` pseudo-facility reads
    them. Without rows for a district and age group, the district's Tagespflegepersonen's
    places count (U3 only, split over their hours; see ``services_planning``). Maintained by
    the youth office and the district's Fachberatung. No personal data."""

    district = models.ForeignKey(
        "registrations.District",
        on_delete=models.CASCADE,
        related_name="daycare_capacities",
        verbose_name=_("Bezirk"),
    )
    kita_year = models.PositiveSmallIntegerField(_("Kita-Jahr (Beginn)"))
    age_group = models.CharField(_("Altersgruppe"), max_length=3, choices=AGE_GROUP_CHOICES)
    care_hours = models.PositiveSmallIntegerField(_("Betreuungsumfang"))
    places = models.PositiveSmallIntegerField(_("Plätze"))

    class Meta:
        verbose_name = _("Plätze in der Kindertagespflege")
        verbose_name_plural = _("Plätze in der Kindertagespflege")
        constraints = [
            models.UniqueConstraint(
                fields=["district", "kita_year", "age_group", "care_hours"],
                name="one_daycare_capacity_per_category",
            )
        ]

    def __str__(self) -> str:
        return f"{self.district_id} {self.kita_year} {self.age_group}/{self.care_hours}h"


__all__ = ["DaycareCapacity", "DistrictPopulation", "FeeDeclaration"]
