"""The tamper-evident audit log every reviewer-relevant change writes to.

The tables keep the names they had when the log lived in governance (`governance_auditevent`, …):
the move was state-only, so the append-only triggers and every row stayed where they were."""

from __future__ import annotations

from django.db import models

from genai_platform.formatting import when

#: The chain of events that belong to no LOB (catalog, policies, central roles).
CENTRAL_CHAIN = "central"


class AuditEvent(models.Model):
    """An append-only record of who did what to which object, written in the change's own transaction.

    Each tenant's events form a hash chain: `hash` is SHA-256 over the event's canonical form,
    which includes the previous event's hash, so changing, removing or reordering any event breaks
    every hash after it. On PostgreSQL a trigger refuses UPDATE and DELETE on this table."""

    #: No index of its own: the position key (chain, sequence, occurred_at) starts with it, and every
    #: read by chain (verify, the head check) is in position order. One index fewer on every append.
    chain = models.SlugField(max_length=64, db_index=False, help_text="The LOB's slug, or 'central'.")
    sequence = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=200, help_text="User name, 'system', or 'key:<prefix>'.")
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    #: The tenant the event belongs to; blank for central (catalog, policy) events.
    lob_slug = models.SlugField(max_length=64, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "governance_auditevent"
        ordering = ["-occurred_at", "-id"]
        # Partitioned by month on `occurred_at` (PostgreSQL): a unique key must contain the partition
        # key, so the position's is (chain, sequence, occurred_at). Two events at one position are
        # still impossible: appends to a chain are serialized by its head's lock, and `audit verify`
        # would name a position held twice.
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence", "occurred_at"], name="audit_event_chain_position")
        ]

    def __str__(self) -> str:
        return f"{when(self.occurred_at)} {self.actor} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The last position and hash of each chain; locking its row serializes appends to one chain."""

    chain = models.SlugField(max_length=64, unique=True)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    #: The time of the chain's last event: the next one is never earlier, so a month's partition
    #: always holds one unbroken run of each chain (hosts' clocks may differ by a little).
    last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "governance_auditchainhead"

    def __str__(self) -> str:
        return f"{self.chain}@{self.sequence}"


class AuditCheckpoint(models.Model):
    """A signed statement of a chain's head at a moment (Ed25519), so a copy kept elsewhere can prove
    that nothing up to that position was rewritten or cut off since."""

    chain = models.SlugField(max_length=64)
    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    signature = models.CharField(max_length=128, help_text="Hex Ed25519 signature of the checkpoint statement.")
    key_id = models.CharField(max_length=16, help_text="Fingerprint of the public key that verifies it.")

    class Meta:
        db_table = "governance_auditcheckpoint"
        ordering = ["chain", "-sequence"]

    def __str__(self) -> str:
        return f"checkpoint {self.chain}@{self.sequence}"


class ArchivedPartition(models.Model):
    """A month of the audit log or the usage ledger that was detached, exported to the archive and
    dropped (`manage.py ledger_partitions archive`). Append-only like the events: for an audit
    partition, `chains` says where each chain's archived run starts and ends, so `audit verify`
    starts each live chain from its archived end and can check the export file itself."""

    table = models.CharField(max_length=63)
    partition = models.CharField(max_length=63, unique=True)
    month_start = models.DateTimeField()
    month_end = models.DateTimeField()
    rows = models.PositiveBigIntegerField()
    file_name = models.CharField(max_length=255, help_text="The export's file name in the archive directory.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the export file.")
    #: {chain: {"first_sequence", "prev_hash", "last_sequence", "last_hash", "events"}}; empty for usage.
    chains = models.JSONField(default=dict, blank=True)
    archived_at = models.DateTimeField()

    class Meta:
        db_table = "audit_archivedpartition"
        ordering = ["table", "month_start"]

    def __str__(self) -> str:
        return f"{self.partition}: {self.rows:,} rows archived {when(self.archived_at)}"
