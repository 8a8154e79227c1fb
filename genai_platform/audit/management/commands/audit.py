from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from genai_platform.audit.archive import archive_verify
from genai_platform.audit.services import audit_checkpoint, audit_export, audit_verify


class Command(BaseCommand):
    help = "The tamper-evident audit log: verify its hash chains, export it as JSON lines, sign checkpoints."

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        verify = actions.add_parser(
            "verify", help="Walk every chain; exit 1 naming the first bad event of each broken one."
        )
        verify.add_argument(
            "--archive",
            default=None,
            help="Instead, verify one archived month: the path of its <partition>.manifest.json.",
        )
        export = actions.add_parser("export", help="Write events as JSON lines for a SIEM.")
        export.add_argument("--output", default="-", help="File to write (default: standard output).")
        export.add_argument("--chain", default=None, help="Only this chain (a LOB slug or 'central').")
        export.add_argument("--after-id", type=int, default=0, help="Only events after this id (incremental export).")
        actions.add_parser("checkpoint", help="Sign the head of every chain that grew (needs AUDIT_SIGNING_KEY).")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "verify" and options["archive"]:
            problems = archive_verify(Path(options["archive"]))
            for problem in problems:
                self.stderr.write(f"TAMPERED {problem}")
            if problems:
                raise CommandError(f"the archive {options['archive']} fails verification")
            self.stdout.write("archive verified: the export matches its record and its chains are intact")
        elif action == "verify":
            problems = audit_verify()
            for problem in problems:
                self.stderr.write(f"TAMPERED {problem}")
            if problems:
                raise CommandError(f"{len(problems)} chain(s) fail verification")
            self.stdout.write("audit log verified: every chain is intact")
        elif action == "export":
            if options["output"] == "-":
                count = audit_export(self.stdout, chain=options["chain"], after_id=options["after_id"])
            else:
                with open(options["output"], "w", encoding="utf-8") as out:
                    count = audit_export(out, chain=options["chain"], after_id=options["after_id"])
            self.stderr.write(f"{count} events exported")
        else:
            made = audit_checkpoint()
            self.stdout.write(f"{len(made)} checkpoint(s) signed")
