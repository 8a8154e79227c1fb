import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from governance.db_roles import database_roles_apply


class Command(BaseCommand):
    help = (
        "Create or update the database's owner role (runs migrations) and application role (no superuser, "
        "no ownership, append-only on the audit log). Run as a superuser before and after `migrate`."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--owner", default=os.environ.get("DATABASE_OWNER_ROLE", "genai_owner"))
        parser.add_argument("--app", default=os.environ.get("DATABASE_APP_ROLE", "genai_app"))
        parser.add_argument(
            "--app-password-env",
            default="DATABASE_APP_PASSWORD",
            help="Environment variable holding the application role's password (unset: no password is set).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("database roles exist only on PostgreSQL")
        with transaction.atomic(), connection.cursor() as cursor:
            applied = database_roles_apply(
                cursor=cursor,
                owner=options["owner"],
                app=options["app"],
                app_password=os.environ.get(options["app_password_env"]) or None,
            )
        created = ", ".join(applied.created) or "none"
        self.stdout.write(
            f"roles ready: owner {options['owner']}, application {options['app']} "
            f"(created: {created}; tables given to the owner: {applied.tables_reowned})"
        )
