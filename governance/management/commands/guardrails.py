import json
from typing import Any

from django.core.management.base import BaseCommand

from governance.shadow_rollout import shadow_report, shadow_versions


class Command(BaseCommand):
    help = "Guardrail policy tools: the shadow rollout report."

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        report = actions.add_parser("shadow-report", help="How a shadow version would have acted on live traffic.")
        report.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = [shadow_report(version) for version in shadow_versions()]
        if options["json"]:
            self.stdout.write(json.dumps(reports, indent=2))
            return
        for report in reports:
            self.stdout.write(f"shadow {report['shadow']}: {report['texts']} texts checked")
            self.stdout.write(
                f"  {'check':28} {'enforced block':>15} {'shadow block':>13} {'enforced mask':>14} {'shadow mask':>12}"
            )
            for check, row in report["checks"].items():
                self.stdout.write(
                    f"  {check:28} {row['enforced_block']:>15} {row['shadow_block']:>13} "
                    f"{row['enforced_mask']:>14} {row['shadow_mask']:>12}"
                )
