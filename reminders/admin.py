from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from campaigns.models import Campaign
from changeday.lib.admin import ReadOnlyModelAdmin
from reminders.models import (
    BEGUN_NOT_DELETED,
    FOLLOW_THROUGH_ANCHORS,
    FOLLOW_THROUGH_AUDIENCES,
    MAX_FOLLOW_THROUGH_MOMENTS,
    REMINDER_ANCHORS,
    REMINDER_AUDIENCES,
    SAME_MOMENT_TWICE,
    TOO_MANY_FOLLOW_THROUGH,
    Anchor,
    Audience,
    FollowThrough,
    Reminder,
    ReminderDelivery,
    ReminderRun,
    ReminderSignup,
)
from reminders.selectors import RUN_COUNT_ANNOTATIONS
from reminders.services import FOLLOW_THROUGH_SEND_TIME, reminder_schedule_default


class ScheduleFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        """What Reminder.clean checks against the saved rows, for the rows of this submission
        together: no moment twice (the unique constraint is not checked by the form, see there),
        and no more follow-through moments than the pledge form promises."""
        # First: the model formset's own clean asks each form whether it is valid, and for a
        # deleted row the admin answers by loading every delivery of its run, only to list
        # them all in a message of its own.
        self._clean_begun_deleted()
        super().clean()
        seen = set()
        for form in self.forms:
            if not form.is_valid() or self._should_delete_form(form):
                continue
            row = form.instance
            moment = (row.anchor, row.days_before, row.days_after, row.send_time)
            if moment in seen:
                raise ValidationError(SAME_MOMENT_TWICE)
            seen.add(moment)
        if sum(1 for anchor, *_ in seen if anchor in FOLLOW_THROUGH_ANCHORS) > MAX_FOLLOW_THROUGH_MOMENTS:
            raise ValidationError(TOO_MANY_FOLLOW_THROUGH)

    def _clean_begun_deleted(self) -> None:
        deleted = [
            form.instance
            for form in self.forms
            if form.instance.pk is not None and self._should_delete_form(form)
        ]
        begun = set(ReminderRun.objects.filter(reminder__in=deleted).values_list("reminder_id", flat=True))
        for moment in deleted:
            if moment.pk in begun:
                saved = Reminder.objects.get(pk=moment.pk)
                raise ValidationError(BEGUN_NOT_DELETED.format(label=saved.label))


class ReminderInline(admin.TabularInline):
    """The campaign's reminder schedule, edited on the campaign's own page. Follow-through
    moments, rows of the same table, have an inline of their own (FollowThroughInline)."""

    model = Reminder
    formset = ScheduleFormSet
    verbose_name = "reminder"
    verbose_name_plural = "reminders"
    extra = 0
    fields = ["anchor", "days_before", "send_time", "audience", "message", "due", "run_state"]
    readonly_fields = ["due", "run_state"]
    anchors: frozenset[str] = REMINDER_ANCHORS
    audiences: frozenset[str] = REMINDER_AUDIENCES

    @admin.display(description="Due (UK time)")
    def due(self, obj: Reminder) -> str:
        if obj.pk is None:
            return "-"
        return f"{timezone.localtime(obj.due_at()):%-d %b %Y %H:%M}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reminder]:
        # Each row shows its run: one join, not one query per reminder.
        return super().get_queryset(request).filter(anchor__in=self.anchors).select_related("run")

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Only this kind's anchors and audiences to choose from: a row cannot move to the other inline.
        allowed = {"anchor": self.anchors, "audience": self.audiences}.get(db_field.name)
        if allowed is not None:
            kwargs["choices"] = [(value, label) for value, label in db_field.choices if value in allowed]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    @admin.display(description="Run")
    def run_state(self, obj: Reminder) -> str:
        run = getattr(obj, "run", None) if obj.pk else None
        if run is None:
            return "Not started"
        url = reverse("admin:reminders_reminderrun_change", args=[run.pk])
        state = "Finished" if run.finished_at else "Sending"
        return format_html('<a href="{}">{}</a>', url, state)


class FollowThroughInline(ReminderInline):
    """The campaign's follow-through moments ("did you do it?"), beside its reminders: the
    same rows, runs and deliveries, counted in days after Change Day or the deadline, from
    Change Day until outcomes close (Reminder.clean says so when a moment falls outside)."""

    model = FollowThrough
    verbose_name = "follow-through moment"
    verbose_name_plural = "follow-through moments"
    fields = ["anchor", "days_after", "send_time", "audience", "message", "due", "run_state"]
    max_num = MAX_FOLLOW_THROUGH_MOMENTS
    anchors = FOLLOW_THROUGH_ANCHORS
    audiences = FOLLOW_THROUGH_AUDIENCES

    # The same rows as reminders: whoever may edit the reminder schedule may edit these, with
    # no second set of permissions (the proxy's own) for every organiser group to be given.
    def _may(self, request: HttpRequest, action: str) -> bool:
        opts = Reminder._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, "delete")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, "view") or self._may(request, "change")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        # The model's defaults are a reminder's; a new row here starts as the usual first ask.
        base = formset.form.base_fields
        base["anchor"].initial = Anchor.AFTER_CHANGE_DAY
        base["audience"].initial = Audience.FOLLOW_ALL
        base["send_time"].initial = FOLLOW_THROUGH_SEND_TIME
        base["days_after"].initial = 14
        return formset


def campaign_schedule_default(campaign: Campaign) -> None:
    """Run when the campaign admin saves a new campaign (registered in RemindersConfig.ready):
    for each kind (reminders, follow-through) it has no moment of, it gets the usual ones,
    which organisers then see and change on its page."""
    reminder_schedule_default(campaign=campaign)


def _count_column(annotation: str, description: str) -> Callable[[Any, ReminderRun], int]:
    """A list column showing one of RUN_COUNT_ANNOTATIONS, sortable by it."""

    @admin.display(description=description, ordering=annotation)
    def column(self: Any, obj: ReminderRun) -> int:
        return getattr(obj, annotation)

    return column


@admin.register(ReminderRun)
class ReminderRunAdmin(ReadOnlyModelAdmin):
    list_display = [
        "reminder_label",
        "campaign",
        "due_at",
        "started_at",
        "finished_at",
        "recipients",
        "sent",
        "failed_link",
        "skipped",
        "waiting",
    ]
    list_filter = ["campaign"]
    date_hierarchy = "due_at"
    fields = ["reminder", "campaign", "due_at", "started_at", "planned_at", "fanned_out_at", "finished_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReminderRun]:
        return (
            super()
            .get_queryset(request)
            .select_related("reminder", "campaign")
            .annotate(**RUN_COUNT_ANNOTATIONS)
        )

    @admin.display(description="Reminder or follow-through")
    def reminder_label(self, obj: ReminderRun) -> str:
        return obj.reminder.label

    recipients = _count_column("n_recipients", "Recipients")
    sent = _count_column("n_sent", "Sent")
    skipped = _count_column("n_skipped", "Skipped")
    waiting = _count_column("n_waiting", "Waiting")

    @admin.display(description="Failed", ordering="n_failed")
    def failed_link(self, obj: ReminderRun) -> str:
        url = reverse("admin:reminders_reminderdelivery_changelist")
        return format_html(
            '<a href="{}?run__id__exact={}&status__exact=failed">{}</a>',
            url,
            obj.pk,
            obj.n_failed,  # type: ignore[attr-defined]
        )


@admin.register(ReminderDelivery)
class ReminderDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "reminder",
        "campaign",
        "status",
        "attempts",
        "sent_at",
        "last_error",
        "skip_reason",
    ]
    list_filter = ["status", "campaign", "run"]
    search_fields = ["recipient"]
    list_select_related = ["reminder", "campaign"]
    show_full_result_count = False


@admin.register(ReminderSignup)
class ReminderSignupAdmin(ReadOnlyModelAdmin):
    list_display = ["public_id", "campaign", "status", "created_at", "confirmed_at", "unsubscribed_at"]
    list_filter = ["status", "campaign"]
    search_fields = ["email"]
    list_select_related = ["campaign"]
