"""Registration tasks: take ids, idempotent, run in the tenant's schema."""

from kitaportal.celery import app

from . import services


@app.task(bind=True, max_retries=5, default_retry_delay=30)
def forward_daycare_request(self, application_id: int) -> bool:
    return services.forward_daycare_request(application_id)
