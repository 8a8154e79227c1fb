"""The audit log: append-only hash chains of every reviewer-relevant change, below every domain app.

Every app writes it through `services.audit_record` (or `audit_record_batch`) in the transaction
of the change it records; it imports no domain app, so any of them can."""
