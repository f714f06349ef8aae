from __future__ import annotations

from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Moderation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Hook into pledges, which sits below and never imports moderation: the moves made
        outside the queue and the pledges entered from paper cards go into the audit, an erased
        pledger's decisions lose the person, their download lists the decisions, and their page
        offers a report. Stories join pledges in the queue's decisions."""
        from moderation.selectors import pledger_decisions
        from moderation.services import paper_entry_record, pledge_moved_record, pledger_audit_forget
        from moderation.subjects import STORIES, subject_register
        from moderation.views import report_section
        from pledges import paper, privacy, services, views

        services.pledge_moved_listen(pledge_moved_record)
        paper.paper_entered_listen(paper_entry_record)
        privacy.pledger_data_erase_listen(pledger_audit_forget)
        privacy.pledger_data_export_extend(pledger_decisions)
        views.pledge_page_section_add(report_section)
        subject_register(STORIES)
