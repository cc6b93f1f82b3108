"""Password reset through the outbox (the email survives a down broker, like every other)."""

from django.contrib.auth.forms import PasswordResetForm
from django.template import loader

from tenants.common.services import queue_email


class OutboxPasswordResetForm(PasswordResetForm):
    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        queue_email(to=[to_email], subject=subject, text=body)
