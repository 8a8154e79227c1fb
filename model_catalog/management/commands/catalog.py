"""`manage.py catalog export|import`: the catalog as a YAML file kept in git (see docs/catalog.md)."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from model_catalog.catalog_yaml import (
    ACTIONS,
    REPORTED_KINDS,
    CatalogImportError,
    ImportReport,
    catalog_export,
    catalog_import,
)

SYMBOLS = {"created": "+", "updated": "~", "deleted": "-"}


class Command(BaseCommand):
    help = "Export the model catalog as one YAML document, or import (validate, apply) one."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{export,import}")
        export = actions.add_parser("export", help="Write the whole catalog as YAML.")
        export.add_argument("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.")
        load = actions.add_parser("import", help="Make the catalog match a YAML file, all or nothing.")
        load.add_argument("file", metavar="FILE", help="The YAML document to import ('-' reads standard input).")
        load.add_argument("--dry-run", action="store_true", help="Validate and report the changes; write nothing.")
        load.add_argument("--prune", action="store_true", help="Delete catalog objects absent from FILE.")
        load.add_argument("--actor", default="system", help="Who the audit log names (default: system).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options["output"])
        else:
            self._import(options["file"], dry_run=options["dry_run"], prune=options["prune"], actor=options["actor"])

    def _export(self, output: str | None) -> None:
        document = catalog_export()
        if output is None:
            self.stdout.write(document, ending="")
            return
        Path(output).write_text(document, encoding="utf-8")
        self.stdout.write(f"Wrote the catalog to {output}.")

    def _import(self, file: str, *, dry_run: bool, prune: bool, actor: str) -> None:
        document = self._read(file)
        try:
            report = catalog_import(document=document, prune=prune, dry_run=dry_run, actor=actor)
        except CatalogImportError as error:
            for problem in error.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"{file} was refused with {len(error.problems)} problem(s); the catalog is unchanged."
            ) from None
        self._report(report, file)

    def _read(self, file: str) -> str:
        if file == "-":
            return sys.stdin.read()
        try:
            return Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read {file}: {error}") from None

    def _report(self, report: ImportReport, file: str) -> None:
        summary = report.summary()
        self.stdout.write(f"{'':<12}" + "".join(f"{action:>11}" for action in ACTIONS))
        for kind in REPORTED_KINDS:
            self.stdout.write(f"{kind.section:<12}" + "".join(f"{summary[kind.section][a]:>11}" for a in ACTIONS))
        for change in report.changes:
            fields = f" ({', '.join(change.fields)})" if change.fields else ""
            self.stdout.write(f"  {SYMBOLS[change.action]} {change.kind} {change.name}{fields}")
        for kind_name, names in report.kept.items():
            self.stdout.write(f"  kept, not in the file (--prune deletes): {kind_name} {', '.join(names)}")
        if report.dry_run:
            self.stdout.write(f"Dry run: {file} is valid; nothing was written.")
        elif not report.changed:
            self.stdout.write(f"Nothing changed: the catalog already matches {file}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {file}."))
