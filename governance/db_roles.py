"""PostgreSQL roles that keep the audit log out of the application's reach.

Two roles share the database: the *owner* owns the schema and every table and runs the migrations;
the *application* (gateways, workers, beat) logs in as a plain role that may read and write rows,
but owns nothing. PostgreSQL lets only a table's owner (or a superuser) drop or disable its
triggers, and only a superuser set `session_replication_role` (which silences triggers), so the
application can neither switch off the audit log's append-only triggers nor rewrite it; on the
audit table it keeps only SELECT and INSERT.

`database_roles_apply` is idempotent: run it (as a superuser or a role with CREATEROLE that can
act for the owner) before and after `migrate`. See docs/configuration.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

#: Tables the application may only append to and read.
APPEND_ONLY_TABLES = ("governance_auditevent",)


@dataclass(frozen=True)
class RolesApplied:
    created: tuple[str, ...]
    tables_reowned: int


def database_roles_apply(*, cursor: Any, owner: str, app: str, app_password: str | None = None) -> RolesApplied:
    """Creates the owner and application roles if missing, makes the owner own the schema and
    every table, grants the application row access (append-only on the audit log), and makes
    tables created by later migrations grant the same.

    `cursor` is a DB-API cursor on the database as an administrator: Django's (the `db_roles`
    command) or a bare psycopg one (the end-to-end tests, without starting Django again)."""
    created: list[str] = []
    for role, options in (
        (owner, "LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION"),
        (app, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"),
    ):
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(role)).as_string(None))
            created.append(role)
        else:
            # An existing role is brought to the same attributes (never left a superuser).
            cursor.execute(sql.SQL("ALTER ROLE {} " + options).format(sql.Identifier(role)).as_string(None))
    if app_password:
        cursor.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(app), sql.Literal(app_password)).as_string(None)
        )
    cursor.execute("SELECT current_database()")
    database = cursor.fetchone()[0]
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(app)),
        sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(owner)),
        sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(app)),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC, {}").format(sql.Identifier(app)),
    ]
    for statement in statements:
        cursor.execute(statement.as_string(None))
    # Tables made before the roles existed (an older database) pass to the owner.
    cursor.execute(
        """
        SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
          AND pg_get_userbyid(c.relowner) <> %s
          AND NOT (c.relkind = 'S' AND EXISTS (
              SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
        """,
        [owner],
    )
    foreign = cursor.fetchall()
    kinds = {"r": "TABLE", "p": "TABLE", "S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
    for name, kind in foreign:
        cursor.execute(
            sql.SQL("ALTER " + kinds[kind] + " {} OWNER TO {}")
            .format(sql.Identifier(name), sql.Identifier(owner))
            .as_string(None)
        )
    for statement in (
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {app}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app}",
    ):
        cursor.execute(sql.SQL(statement).format(owner=sql.Identifier(owner), app=sql.Identifier(app)).as_string(None))
    for table in APPEND_ONLY_TABLES:
        cursor.execute("SELECT to_regclass(%s)", [f"public.{table}"])
        if cursor.fetchone()[0] is not None:
            cursor.execute(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {} FROM PUBLIC, {}")
                .format(sql.Identifier(table), sql.Identifier(app))
                .as_string(None)
            )
    return RolesApplied(created=tuple(created), tables_reowned=len(foreign))
