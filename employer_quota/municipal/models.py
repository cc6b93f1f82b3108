"""Municipality schema: an application's eligibility for an employer's reserved places.

Holds no employee data: the employer's tenant id and name (an organisation), the public id
of the redeemed code, the opaque tokens of the place claims and the parent's consent.
Deleted with the application (cascade), i.e. by the application's retention rule.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _


class EmployerEligibility(models.Model):
    application = models.ForeignKey(
        "registrations.Application",
        on_delete=models.CASCADE,
        related_name="employer_eligibilities",
        verbose_name=_("Voranmeldung"),
    )
    employer_id = models.BigIntegerField(_("Arbeitgeber (Mandanten-ID)"))
    employer_slug = models.SlugField(_("Arbeitgeber (Kurzname)"), max_length=50)
    employer_name = models.CharField(_("Arbeitgeber"), max_length=200)
    code_id = models.BigIntegerField(_("Code-ID"), unique=True)
    claim_tokens = ArrayField(models.UUIDField(), default=list, blank=True)
    share_status = models.BooleanField(_("Status mit dem Arbeitgeber teilen"), default=False)
    consent_changed_at = models.DateTimeField(_("Einwilligung geändert am"), null=True, blank=True)
    created_at = models.DateTimeField(_("eingelöst am"), auto_now_add=True)

    class Meta:
        verbose_name = _("Berechtigung für Belegplätze")
        verbose_name_plural = _("Berechtigungen für Belegplätze")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "employer_id"], name="one_eligibility_per_employer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.application_id} → {self.employer_slug}"
