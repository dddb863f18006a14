"""Seed-format conformance client: no TypeScript of dbbridge takes part on this side.

Speaks the seed's wire format ("Event Schemas" of the Database Event Client usage guide) and the
older Python dialect (every optional field sent, ``null`` when unset) over aiokafka, checks every
reply field against the seed's documented reply format, and every value against PostgreSQL itself
(psycopg on a direct connection), decimals exactly: replies are parsed with
``json.loads(parse_float=Decimal)``.

Usage: seed_client.py --bootstrap HOST:PORT --env TOPIC_ENV --dsn postgres://...
Prints one JSON line {"checks": n, "failed": [...]} last; exit code 0 when every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ERROR_CODES = {
    "DATABASE_CONNECTION_FAILED",
    "DATABASE_OPERATION_FAILED",
    "VALIDATION_ERROR",
    "TIMEOUT_ERROR",
    "CIRCUIT_BREAKER_OPEN",
}
BREAKER_STATES = {"CLOSED", "OPEN", "HALF_OPEN"}
WRITES = {"INSERT", "UPDATE", "DELETE", "UPSERT", "EXECUTE"}
ISO_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class Checks:
    def __init__(self) -> None:
        self.count = 0
        self.failed: list[str] = []

    def ok(self, condition: bool, what: str) -> None:
        self.count += 1
        if not condition:
            self.failed.append(what)
            print(f"FAIL {what}", file=sys.stderr)

    def equal(self, actual: Any, expected: Any, what: str) -> None:
        self.ok(
            type(actual) is type(expected) and actual == expected,
            f"{what}: got {actual!r}, expected {expected!r}",
        )


checks = Checks()


def is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def same_digits(value: Any, text: str) -> bool:
    """The reply's number is PostgreSQL's text exactly: same digits, same exponent (scale included)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return False
    return Decimal(value).as_tuple() == Decimal(text).as_tuple()


def exact_json(text: str) -> Any:
    """How a careful Python reader parses a reply: decimals exactly, integers as int."""
    return json.loads(text, parse_float=Decimal)


def iso_rule(pg_text: str) -> str:
    """The README's rule for timestamps and dates, from PostgreSQL's own text (DateStyle ISO)."""
    match = re.fullmatch(
        r"(\d{4,})-(\d\d-\d\d)(?: (\d\d:\d\d:\d\d(?:\.\d+)?))?([+-]\d\d(?::\d\d){0,2})?( BC)?", pg_text
    )
    if match is None:
        return pg_text  # infinity, -infinity
    year_text, month_day, time, offset, bc = match.groups()
    year = 1 - int(year_text) if bc else int(year_text)
    year_out = year_text if 1 <= year <= 9999 else f"{'-' if year < 0 else '+'}{abs(year):06d}"
    zone = "" if offset is None else (offset + ":00" if len(offset) == 3 else offset)
    return f"{year_out}-{month_day}{'' if time is None else 'T' + time}{zone}"


class SeedClient:
    """The seed's request/response over Kafka: replies are keyed by correlation id (no reply_partition)."""

    def __init__(self, bootstrap: str, env: str) -> None:
        base = f"{env}.omninode-bridge.database"
        self.requested = f"{base}.query-requested.v1"
        self.completed = f"{base}.query-completed.v1"
        self.failed = f"{base}.query-failed.v1"
        self.bootstrap = bootstrap
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        self.waiting: dict[str, asyncio.Future[tuple[str, str]]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        partitions = []
        for topic in (self.completed, self.failed):
            for p in sorted(await self._partitions(topic)):
                partitions.append(TopicPartition(topic, p))
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:  # positions resolved before the first request: no reply is missed
            await self.consumer.position(tp)
        self.reader = asyncio.create_task(self._read())

    async def _partitions(self, topic: str) -> set[int]:
        found = await self.producer.partitions_for(topic)  # waits for the topic's metadata
        if not found:
            raise RuntimeError(f"topic {topic} has no partitions")
        return found

    async def _read(self) -> None:
        async for message in self.consumer:
            text = message.value.decode("utf-8")
            correlation_id = json.loads(text).get("correlation_id")
            future = self.waiting.pop(correlation_id, None)
            if future is not None and not future.done():
                future.set_result((message.topic, text))

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.consumer.stop()
        await self.producer.stop()

    async def request(self, payload: dict[str, Any], timeout_s: float = 20.0) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """Publishes one request; returns (reply topic, reply parsed exactly, the request sent)."""
        correlation_id = str(uuid.uuid4())
        envelope = {
            "event_id": str(uuid.uuid4()),
            "event_type": "DATABASE_QUERY_REQUESTED",
            "correlation_id": correlation_id,
            "timestamp": datetime.utcnow().isoformat(timespec="milliseconds") + "Z",
            "service": "omniclaude",
            "payload": payload,
        }
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self.waiting[correlation_id] = future
        await self.producer.send_and_wait(
            self.requested, json.dumps(envelope).encode(), key=correlation_id.encode()
        )
        topic, text = await asyncio.wait_for(future, timeout_s)
        reply = exact_json(text)
        check_envelope(topic, reply, envelope, self)
        return topic, reply, envelope


def older(operation_type: str, **fields: Any) -> dict[str, Any]:
    """A payload as the older dialect's client builds it: every optional field, null when unset."""
    payload: dict[str, Any] = {
        "operation_type": operation_type,
        "entity_type": None,
        "query": None,
        "params": None,
        "filters": {},
        "limit": None,
        "offset": None,
        "data": None,
        "returning": None,
        "options": None,
    }
    payload.update(fields)
    return payload


def check_envelope(topic: str, reply: dict[str, Any], request: dict[str, Any], client: SeedClient) -> None:
    """Every field of the seed's Query Completed / Query Failed envelopes."""
    op = request["payload"]["operation_type"]
    name = f"{op} {request['correlation_id'][:8]}"
    completed = topic == client.completed
    checks.ok(topic in (client.completed, client.failed), f"{name}: reply topic {topic}")
    checks.equal(reply.get("event_type"), "DATABASE_QUERY_COMPLETED" if completed else "DATABASE_QUERY_FAILED", f"{name}: event_type")
    checks.equal(reply.get("correlation_id"), request["correlation_id"], f"{name}: correlation_id")
    checks.ok(is_uuid(reply.get("event_id")), f"{name}: event_id is a uuid")
    checks.ok(isinstance(reply.get("timestamp"), str) and ISO_TIMESTAMP.match(reply["timestamp"]) is not None, f"{name}: timestamp ISO")
    checks.equal(reply.get("service"), "database-adapter-effect", f"{name}: service")
    payload = reply.get("payload")
    checks.ok(isinstance(payload, dict), f"{name}: payload object")
    if not isinstance(payload, dict):
        return
    checks.equal(payload.get("operation_type"), op, f"{name}: payload.operation_type")
    metadata = payload.get("metadata")
    checks.ok(isinstance(metadata, dict), f"{name}: metadata object")
    metadata = metadata if isinstance(metadata, dict) else {}
    checks.ok(metadata.get("circuit_breaker_state") in BREAKER_STATES, f"{name}: metadata.circuit_breaker_state")
    if completed:
        rows = payload.get("rows")
        checks.ok(isinstance(rows, list) and all(isinstance(r, dict) for r in rows), f"{name}: rows is a list of objects")
        checks.ok(type(payload.get("row_count")) is int and payload["row_count"] >= 0, f"{name}: row_count integer")
        checks.ok(type(payload.get("execution_time_ms")) is int and payload["execution_time_ms"] >= 0, f"{name}: execution_time_ms integer")
        checks.equal(metadata.get("cached"), False, f"{name}: metadata.cached")
        if op in WRITES:
            checks.equal(payload.get("rows_affected"), payload.get("row_count"), f"{name}: rows_affected = row_count")
    else:
        checks.ok(payload.get("error_code") in ERROR_CODES, f"{name}: error_code {payload.get('error_code')}")
        for field in ("error_message", "error_type"):
            checks.ok(isinstance(payload.get(field), str) and payload[field] != "", f"{name}: {field} string")
        checks.equal(payload.get("error"), payload.get("error_message"), f"{name}: error = error_message")
        sent_sql = request["payload"].get("sql") or request["payload"].get("query")
        if sent_sql:
            checks.equal(metadata.get("sql"), sent_sql, f"{name}: metadata.sql")


class Database:
    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any]:
        rows = self.rows(sql, params)
        return rows[0] if rows else {}


def same_value(reply_value: Any, direct: Any, what: str) -> None:
    """A reply value against psycopg's value of the same column."""
    if isinstance(direct, bool) or direct is None or isinstance(direct, str):
        checks.equal(reply_value, direct, what)
    elif isinstance(direct, int):
        checks.equal(reply_value, direct, what)
    elif isinstance(direct, Decimal):
        if direct.is_nan():
            checks.equal(reply_value, "NaN", what)
        elif direct.is_infinite():
            checks.equal(reply_value, "Infinity" if direct > 0 else "-Infinity", what)
        else:
            # Exact: the same digits, scale included (0.9200 stays 0.9200).
            checks.ok(same_digits(reply_value, str(direct)), f"{what}: got {reply_value!r}, expected {direct!r}")
    elif isinstance(direct, float):
        if math.isnan(direct):
            checks.equal(reply_value, "NaN", what)
        elif math.isinf(direct):
            checks.equal(reply_value, "Infinity" if direct > 0 else "-Infinity", what)
        else:
            checks.ok(isinstance(reply_value, (Decimal, int)) and float(reply_value) == direct, f"{what}: got {reply_value!r}, expected {direct!r}")
    elif isinstance(direct, datetime):
        checks.ok(isinstance(reply_value, str) and datetime.fromisoformat(reply_value) == direct, f"{what}: got {reply_value!r}, expected {direct!r}")
    elif isinstance(direct, uuid.UUID):
        checks.equal(reply_value, str(direct), what)
    elif isinstance(direct, list):
        checks.ok(isinstance(reply_value, list) and len(reply_value) == len(direct), f"{what}: array length")
        for i, (r, d) in enumerate(zip(reply_value or [], direct)):
            same_value(r, d, f"{what}[{i}]")
    elif isinstance(direct, dict):
        checks.equal(reply_value, direct, what)
    else:
        checks.equal(reply_value, str(direct), what)


async def seed_examples(client: SeedClient, db: Database, tag: str) -> None:
    """The seed's own Query / Insert / Update requests and its Query Failed example."""
    agent = f"conformance-{tag}"
    execution_id = str(uuid.uuid4())
    topic, reply, _ = await client.request({
        "operation_type": "INSERT",
        "table": "agent_execution_logs",
        "data": {"execution_id": execution_id, "agent_name": agent, "status": "in_progress"},
        "returning": "execution_id",
        "options": {"timeout_ms": 5000},
    })
    checks.equal(reply["payload"].get("rows"), [{"execution_id": execution_id}], "seed Insert Request: returned execution_id")
    topic, reply, _ = await client.request({
        "operation_type": "UPDATE",
        "table": "agent_execution_logs",
        "data": {"status": "success", "quality_score": 0.95},
        "where": {"execution_id": execution_id},
        "returning": "*",
        "options": {"timeout_ms": 5000},
    })
    direct = db.one("SELECT * FROM agent_execution_logs WHERE execution_id = %s", (execution_id,))
    row = (reply["payload"].get("rows") or [{}])[0]
    checks.equal(sorted(row), sorted(direct), "seed Update Request: returned columns")
    for column, value in direct.items():
        same_value(row.get(column), value, f"seed Update Request: {column}")

    sql = "SELECT * FROM agent_execution_logs WHERE agent_name = $1"
    topic, reply, _ = await client.request({
        "operation_type": "SELECT", "sql": sql, "params": [agent], "options": {"timeout_ms": 10000, "max_rows": 1000},
    })
    checks.equal(topic, client.completed, "seed Query Request: completed")
    checks.equal(reply["payload"].get("row_count"), 1, "seed Query Request: row_count")

    topic, reply, _ = await client.request({"operation_type": "SELECT", "sql": "SELET * FROM agent_execution_logs"})
    checks.equal(topic, client.failed, "seed Query Failed: failed topic")
    for field, expected in (
        ("error_code", "DATABASE_OPERATION_FAILED"),
        ("error_message", 'syntax error at or near "SELET"'),
        ("error_type", "PostgresError"),
    ):
        checks.equal(reply["payload"].get(field), expected, f"seed Query Failed: {field}")

    # execute(): DML through EXECUTE returns rows affected.
    topic, reply, _ = await client.request({
        "operation_type": "EXECUTE",
        "sql": "UPDATE agent_execution_logs SET processed = TRUE WHERE agent_name = $1",
        "params": [agent],
    })
    checks.equal(reply["payload"].get("rows_affected"), 1, "execute(): rows_affected")
    db.rows("DELETE FROM agent_execution_logs WHERE agent_name = %s", (agent,))


async def older_dialect(client: SeedClient, db: Database, tag: str) -> None:
    """The older dialect as its client sends it: every optional field, null when unset."""
    agent = f"conformance-old-{tag}"
    table = "agent_execution_logs"
    sql = "SELECT n FROM generate_series(1, 5) AS n ORDER BY n"
    topic, reply, _ = await client.request(older("QUERY", query=sql))
    checks.equal(topic, client.completed, "QUERY with nulls: completed")
    checks.equal(reply["payload"].get("rows"), [{"n": n} for n in range(1, 6)], "QUERY with nulls: rows")
    _, reply, _ = await client.request(older("QUERY", query=sql, limit=1))
    checks.equal(reply["payload"].get("rows"), [{"n": 1}], "QUERY limit 1: one row")
    _, reply, _ = await client.request(older("QUERY", query=sql, limit=2, offset=3))
    checks.equal(reply["payload"].get("rows"), [{"n": 4}, {"n": 5}], "QUERY limit 2 offset 3")

    ids = [str(uuid.uuid4()) for _ in range(3)]
    insert = f"INSERT INTO {table} (execution_id, correlation_id, agent_name, status, quality_score) VALUES ($1, $1, $2, $3, $4)"
    for i, execution_id in enumerate(ids):
        topic, reply, _ = await client.request(
            older("INSERT", entity_type=table, query=insert, params=[execution_id, agent, "in_progress", f"0.{i}5"])
        )
        checks.equal(topic, client.completed, f"INSERT with query and entity_type {i}: completed")
        checks.equal(reply["payload"].get("rows_affected"), 1, f"INSERT with query {i}: rows_affected")
    checks.equal(db.one(f"SELECT count(*) AS n FROM {table} WHERE agent_name = %s", (agent,))["n"], 3, "INSERT with query: rows in PostgreSQL")

    _, reply, _ = await client.request(older("QUERY", entity_type=table, filters={"agent_name": agent}, limit=2))
    checks.equal(len(reply["payload"].get("rows") or []), 2, "QUERY entity_type + filters + limit 2")
    direct = {str(r["execution_id"]): r for r in db.rows(f"SELECT * FROM {table} WHERE agent_name = %s", (agent,))}
    for row in reply["payload"].get("rows") or []:
        for column, value in direct.get(row.get("execution_id"), {}).items():
            same_value(row.get(column), value, f"QUERY entity_type row: {column}")

    upsert = (
        f"INSERT INTO {table} (execution_id, correlation_id, agent_name, status) VALUES ($1, $1, $2, $3) "
        "ON CONFLICT (execution_id) DO UPDATE SET status = EXCLUDED.status RETURNING status"
    )
    _, reply, _ = await client.request(older("UPSERT", entity_type=table, query=upsert, params=[ids[0], agent, "upserted"]))
    checks.equal(reply["payload"].get("rows"), [{"status": "upserted"}], "UPSERT with query: returned row")
    checks.equal(db.one(f"SELECT status FROM {table} WHERE execution_id = %s", (ids[0],)).get("status"), "upserted", "UPSERT with query: in PostgreSQL")

    update = f"UPDATE {table} SET status = $2 WHERE agent_name = $1"
    _, reply, _ = await client.request(older("UPDATE", entity_type=table, query=update, params=[agent, "success"]))
    checks.equal(reply["payload"].get("rows_affected"), 3, "UPDATE with query: rows_affected")
    checks.equal(db.one(f"SELECT count(*) AS n FROM {table} WHERE agent_name = %s AND status = 'success'", (agent,))["n"], 3, "UPDATE with query: in PostgreSQL")

    # Kinds are exact: an UPSERT without ON CONFLICT, a DELETE that is an UPDATE.
    for op, query in (("UPSERT", insert), ("DELETE", update)):
        topic, reply, _ = await client.request(older(op, entity_type=table, query=query, params=[ids[1], agent, "x", "0.1"]))
        checks.equal(topic, client.failed, f"{op} with the wrong statement kind: failed")
        checks.equal(reply["payload"].get("error_code"), "VALIDATION_ERROR", f"{op} with the wrong statement kind: VALIDATION_ERROR")

    # A database failure of the older dialect: error, error_code, and metadata.sql.
    bad = f"UPDATE {table} SET quality_score = $2 WHERE agent_name = $1"
    topic, reply, _ = await client.request(older("UPDATE", entity_type=table, query=bad, params=[agent, 70]))
    checks.equal(reply["payload"].get("error_code"), "DATABASE_OPERATION_FAILED", "UPDATE out of range: error_code")
    checks.equal(reply["payload"].get("sqlstate"), "22003", "UPDATE out of range: sqlstate")

    delete = f"DELETE FROM {table} WHERE agent_name = $1"
    _, reply, _ = await client.request(older("DELETE", entity_type=table, query=delete, params=[agent]))
    checks.equal(reply["payload"].get("rows_affected"), 3, "DELETE with query: rows_affected")
    checks.equal(db.rows(f"SELECT 1 FROM {table} WHERE agent_name = %s", (agent,)), [], "DELETE with query: gone")


VALUE_COLUMNS = """
  k int PRIMARY KEY,
  c_numeric numeric, c_scaled numeric(12, 4), c_int8 int8, c_int4 int4, c_int2 int2,
  c_float8 float8, c_float4 float4, c_bool bool, c_text text, c_uuid uuid,
  c_tstz timestamptz, c_ts timestamp, c_date date, c_jsonb jsonb,
  c_numeric_arr numeric[], c_int8_arr int8[], c_text_arr text[]
"""

VALUE_ROWS = [
    (1, "123456789012345678901234567890.123456789", "0.9200", "9223372036854775807", "-2147483648", "12",
     "1.0000001", "1.0000001", "t", 'héllo "quoted" \\ back', "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
     "2025-10-30 10:00:00.123456+02", "2025-10-30 10:00:00.5", "2025-10-30", '{"a": [1, "two", null], "n": 12}',
     "{1.10,2.5,NULL}", "{1,9007199254740993}", '{a,"b c",NULL}'),
    (2, "-0.000000000000000000000000000001", "-12.5000", "9007199254740993", "0", "-1",
     "1e+300", "-1.5e-07", "f", "", "00000000-0000-0000-0000-000000000000",
     "1900-01-01 00:00:00+00", "0044-03-15 12:00:00 BC", "0044-03-15 BC", "[]",
     "{}", "{-9223372036854775808}", "{}"),
    (3, "NaN", None, "42", None, None,
     "NaN", "-Infinity", None, None, None,
     "infinity", "-infinity", "infinity", "null",
     "{NaN,Infinity}", None, None),
    (4, "Infinity", None, "-42", None, None,
     "Infinity", "0", None, None, None,
     "10000-01-01 00:00:00+00", "2025-10-30 10:00:00", "-infinity", '{"deep": {"x": true}}',
     None, None, None),
]


async def exact_values(client: SeedClient, db: Database, tag: str) -> None:
    """Every value of a SELECT, parsed exactly, against PostgreSQL's own values and text."""
    table = f"conformance_values_{tag}"
    names = [c.split()[0] for c in VALUE_COLUMNS.split(",") if c.strip()]
    names = [n for n in names if n == "k" or n.startswith("c_")]
    db.rows(f"CREATE TABLE {table} ({VALUE_COLUMNS})")
    try:
        placeholders = ", ".join(["%s"] * len(names))
        for row in VALUE_ROWS:
            db.rows(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})", row)
        topic, reply, _ = await client.request({"operation_type": "SELECT", "sql": f"SELECT * FROM {table} ORDER BY k"})
        checks.equal(topic, client.completed, "values: completed")
        rows = reply["payload"].get("rows") or []
        checks.equal(len(rows), len(VALUE_ROWS), "values: row count")
        texts = db.rows(f"SELECT {', '.join(f'{n}::text AS {n}' for n in names)} FROM {table} ORDER BY k")
        for reply_row, text_row in zip(rows, texts):
            key = text_row["k"]
            checks.equal(sorted(reply_row), sorted(names), f"values k={key}: columns")
            for name in names:
                what = f"values k={key} {name}"
                text = text_row[name]
                value = reply_row.get(name)
                if text is None:
                    checks.equal(value, None, what)
                elif name in ("c_tstz", "c_ts", "c_date"):
                    # ISO 8601 by the documented rule, from PostgreSQL's text; Python checks the instant where it can.
                    checks.equal(value, iso_rule(text), what)
                    if value not in ("infinity", "-infinity") and not value.startswith(("+", "-")):
                        direct = db.one(f"SELECT {name} AS v FROM {table} WHERE k = %s", (key,))["v"]
                        parsed = datetime.fromisoformat(value)
                        checks.ok(parsed == direct if name != "c_date" else parsed.date() == direct, f"{what}: instant {value} vs {direct!r}")
                elif name in ("c_numeric", "c_scaled", "c_int8", "c_int4", "c_int2", "c_float8", "c_float4"):
                    # The literal is PostgreSQL's text, digit for digit; NaN and infinities are its strings.
                    if text in ("NaN", "Infinity", "-Infinity"):
                        checks.equal(value, text, what)
                    else:
                        checks.ok(same_digits(value, text), f"{what}: got {value!r}, PostgreSQL {text}")
                    direct = db.one(f"SELECT {name} AS v FROM {table} WHERE k = %s", (key,))["v"]
                    same_value(value, direct, f"{what} (psycopg)")
                elif name == "k":
                    checks.equal(value, int(text), what)
                else:
                    direct = db.one(f"SELECT {name} AS v FROM {table} WHERE k = %s", (key,))["v"]
                    same_value(value, direct, what)
    finally:
        db.rows(f"DROP TABLE IF EXISTS {table}")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--dsn", required=True)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    db = Database(args.dsn)
    client = SeedClient(args.bootstrap, args.env)
    await client.start()
    try:
        await seed_examples(client, db, tag)
        await older_dialect(client, db, tag)
        await exact_values(client, db, tag)
    finally:
        await client.stop()
        db.conn.close()
    print(json.dumps({"checks": checks.count, "failed": checks.failed}))
    return 0 if not checks.failed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
