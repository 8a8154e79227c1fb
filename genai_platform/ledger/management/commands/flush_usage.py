from typing import Any

from django.core.management.base import BaseCommand

from genai_platform.ledger.services import usage_flush


class Command(BaseCommand):
    help = "Move buffered usage records into the ledger now (Celery beat does this every few seconds)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--consumer", default="manual", help="Consumer name in the stream's group.")
        parser.add_argument(
            "--claim-idle-ms",
            type=int,
            default=None,
            help="Take over entries a dead flusher left unacknowledged for this long (default from settings).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        moved = usage_flush(consumer=options["consumer"], max_batches=1_000, claim_idle_ms=options["claim_idle_ms"])
        self.stdout.write(f"{moved} usage records flushed")
