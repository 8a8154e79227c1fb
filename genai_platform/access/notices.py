"""Telling a LOB what was done to its people by anyone but its own admins.

Each such action (or refused attempt) becomes a `PeopleNotice` of the LOB, written in the same
transaction as the change and its audit event, listed on the LOB's portal page; after commit a
task e-mails the LOB's admins and posts the notice to the LOB's webhook, signed
(`genai_platform.notifications`). The notice carries names and field names, never a password.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from genai_platform.audit.models import AuditEvent
from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.tenancy.models import Lob, Membership

from .models import LobNoticeSettings, PeopleNotice
from .selectors import user_can_in_lob

#: The subject of a notice about the LOB itself rather than one of its people.
LOB_SUBJECT = "(the line of business)"


def _acts_for_lob(actor: Any, lob: Lob) -> bool:
    """The LOB's own admins need not be told what they did themselves."""
    if actor is None or isinstance(actor, str) or not getattr(actor, "is_authenticated", False):
        return False
    return user_can_in_lob(actor, lob, "member", "write")


def people_notify(
    *, event: AuditEvent, subject: Any, actor: Any, refused: bool = False, lobs: Iterable[Lob] | None = None
) -> list[PeopleNotice]:
    """Writes a notice of `event` for each LOB of `subject` (or `lobs`) whose admins did not act
    themselves, and delivers them after commit."""
    if lobs is None:
        lobs = Lob.objects.filter(memberships__user=subject).distinct()
    notices = []
    for lob in lobs:
        if _acts_for_lob(actor, lob):
            continue
        notice = PeopleNotice.objects.create(
            lob=lob,
            occurred_at=event.occurred_at,
            actor=audit_actor(actor),
            action=event.action,
            subject=subject.get_username(),
            refused=refused,
            details=_details(event),
            audit_event_id=event.pk,
        )
        notices.append(notice)
    if notices:
        from .tasks import deliver_people_notice

        for notice in notices:
            # Robust: a webhook that fails under eager Celery (the embedded setup) must not fail the
            # change already committed; the notice stays listed on the LOB's page either way.
            transaction.on_commit(lambda pk=notice.pk: deliver_people_notice.delay(pk), robust=True)
    return notices


def lob_notify(*, event: AuditEvent, lob: Lob, actor: Any) -> list[PeopleNotice]:
    """A notice of a central action on the LOB itself (its record, a break-glass request for its data)."""
    if _acts_for_lob(actor, lob):
        return []
    notice = PeopleNotice.objects.create(
        lob=lob,
        occurred_at=event.occurred_at,
        actor=audit_actor(actor),
        action=event.action,
        subject=LOB_SUBJECT,
        details=_details(event),
        audit_event_id=event.pk,
    )
    from .tasks import deliver_people_notice

    transaction.on_commit(lambda: deliver_people_notice.delay(notice.pk), robust=True)
    return [notice]


def _details(event: AuditEvent) -> dict[str, Any]:
    """Which fields changed, from and to (the audit state holds no secret), or what was attempted."""
    before, after = event.before or {}, event.after or {}
    if "fields" in after:
        return {"fields": after["fields"], "via": after.get("via", "")}
    changed = {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name) and name not in ("password_set",)
    }
    if after.get("reason"):
        changed["reason"] = after["reason"]
    return changed


def notice_payload(notice: PeopleNotice) -> dict[str, Any]:
    return {
        "type": "people_notice",
        "lob": notice.lob.slug,
        "occurred_at": notice.occurred_at.isoformat(),
        "actor": notice.actor,
        "action": notice.action,
        "subject": notice.subject,
        "refused": notice.refused,
        "details": notice.details,
        "audit_event_id": notice.audit_event_id,
    }


def lob_admin_emails(lob: Lob) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(lob=lob, role=Membership.Role.LOB_ADMIN, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def people_notice_deliver(*, notice: PeopleNotice) -> None:
    """E-mails the LOB's admins and posts to its webhook, each once; a failed webhook raises (the task retries)."""
    from genai_platform.notifications import notify, webhook_post_signed

    verb = "tried to" if notice.refused else "did"
    subject = f"[{notice.lob.slug}] {notice.actor} {verb} {notice.action} on {notice.subject}"
    body = (
        f"{notice.actor} {verb} {notice.action} on the account of {notice.subject}, a member of {notice.lob}, "
        f"at {notice.occurred_at.isoformat()}.\n"
        f"{'It was refused.' if notice.refused else 'It took effect.'}\n"
        f"Details: {notice.details}\nAudit event: {notice.audit_event_id}\n"
        "Your LOB's people notices are listed in the portal."
    )
    if notice.emailed_at is None:
        notify(subject=subject, body=body, recipients=lob_admin_emails(notice.lob), event={})
        PeopleNotice.objects.filter(pk=notice.pk).update(emailed_at=timezone.now())
    settings_row = LobNoticeSettings.objects.filter(lob=notice.lob).first()
    if notice.webhook_posted_at is None and settings_row is not None and settings_row.webhook_url:
        webhook_post_signed(settings_row.webhook_url, notice_payload(notice))
        PeopleNotice.objects.filter(pk=notice.pk).update(webhook_posted_at=timezone.now())


@transaction.atomic
def lob_notice_settings_set(*, lob: Lob, webhook_url: str, actor: Any) -> LobNoticeSettings:
    """The LOB's admins say where its people notices are posted."""
    row = LobNoticeSettings.objects.filter(lob=lob).first() or LobNoticeSettings(lob=lob)
    before = {"webhook_url": row.webhook_url} if row.pk else None
    row.webhook_url = webhook_url
    row.full_clean()
    row.save()
    audit_record(
        actor=audit_actor(actor),
        action="lob.notice_settings_set",
        target=row,
        lob_slug=lob.slug,
        before=before,
        after={"webhook_url": webhook_url},
    )
    return row
