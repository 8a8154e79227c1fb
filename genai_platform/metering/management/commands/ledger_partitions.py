import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from genai_platform.audit.archive import ArchiveRefused
from genai_platform.metering.partitions import ledger_partitions, ledger_partitions_archive, ledger_partitions_ensure


class Command(BaseCommand):
    help = (
        "The monthly partitions of the usage ledger and the audit log. Run as the tables' owner role "
        "(DATABASE_URL of the owner): the application's role may not create, detach or drop tables."
    )

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        ensure = actions.add_parser("ensure", help="Create this month and LEDGER_PARTITIONS_AHEAD months ahead.")
        ensure.add_argument(
            "--since", type=dt.date.fromisoformat, default=None, help="Also every month from this date."
        )
        actions.add_parser(
            "archive", help="Export, verify, detach and drop the months past retention (into LEDGER_ARCHIVE_DIR)."
        )
        actions.add_parser("list", help="The attached months and their estimated rows.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "ensure":
            made = ledger_partitions_ensure(since=options["since"])
            self.stdout.write(f"{len(made)} partition(s) created" + "".join(f"\n  {name}" for name in made))
        elif options["action"] == "archive":
            try:
                made = ledger_partitions_archive()
            except ArchiveRefused as exc:
                raise CommandError(str(exc)) from exc
            for archive in made:
                self.stdout.write(f"archived {archive.partition}: {archive.rows} rows, sha256 {archive.sha256}")
            self.stdout.write(f"{len(made)} month(s) archived")
        else:
            for table, partition, rows in ledger_partitions():
                self.stdout.write(f"{table}\t{partition}\t~{rows} rows")
