from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from campaigns.models import Campaign
        from campaigns.selectors import campaign_memo_forget

        post_save.connect(campaign_memo_forget, sender=Campaign, dispatch_uid="campaign-memo-save")
        post_delete.connect(campaign_memo_forget, sender=Campaign, dispatch_uid="campaign-memo-delete")

        from campaigns.services import account_email_kinds_register

        account_email_kinds_register()
