from __future__ import annotations

from celery import shared_task

from pages.retention import retention_erase_due


@shared_task(acks_late=True)
def retention_erase_task() -> dict[str, int]:
    """Erase the personal data of campaigns past their retention date (pages.retention)."""
    result = retention_erase_due()
    return {"campaigns": len(result.campaigns), "addresses": result.addresses, "stories": result.stories}
