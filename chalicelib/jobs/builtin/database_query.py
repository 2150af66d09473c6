"""``database_query``: one SQL statement on PostgreSQL (``DATABASE_URL``), in a transaction.

Admin-only: the statement runs with the service's database role. Parameters are bound by the
server, never pasted into the SQL text, which is why templates are refused in ``query`` and
welcome in ``parameters``. Delivery is at least once, so a statement may run again after a crash
between its commit and the job's completion: write statements that can (the guide's DELETE can).
"""

from __future__ import annotations

import base64
import ssl
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.jobs.builtin.rendering import ConfiguredJobHandler
from chalicelib.jobs.builtin.sql_text import statement_count
from chalicelib.jobs.platform import Platform
from chalicelib.jobs.signals import PermanentJobError
from chalicelib.templating import ANY_BRACES

DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 900_000  # the Lambda limit
MAX_ROWS_LIMIT = 1000
CONNECT_TIMEOUT_S = 10
# SQLSTATE classes another attempt cannot fix: data exceptions, syntax or access errors, unsupported.
PERMANENT_SQLSTATE_CLASSES = ("22", "42", "0A")
# pg8000 sends parameterless SQL with the simple protocol, which runs any number of statements.
# Any parameter makes it use Parse/Bind, where the server refuses a second command.
EXTENDED_PROTOCOL_PARAMETER = "tickwork_extended_protocol"


class DatabaseQueryError(Exception):
    """The statement failed in a way another attempt may fix (connection lost, timeout, lock)."""


class DatabaseQueryConfig(BaseModel):
    """The guide's database_query configuration; ``timeout`` is in milliseconds, as in the guide."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at cold start

    query: str = Field(min_length=1, max_length=20_000, description="one SQL statement; :name or $1 placeholders")
    parameters: dict[str, Any] | list[Any] = Field(
        default_factory=dict, description="values bound to :name (an object) or $1, $2 (a list) placeholders"
    )
    timeout: int = Field(
        default=DEFAULT_TIMEOUT_MS,
        ge=1000,
        le=MAX_TIMEOUT_MS,
        description="statement timeout in milliseconds (the guide's 30000 is 30 seconds)",
    )
    max_rows: int = Field(default=100, ge=0, le=MAX_ROWS_LIMIT, description="returned rows kept in the result")

    @field_validator("query")
    @classmethod
    def _one_statement_without_templates(cls, value: str) -> str:
        if ANY_BRACES.search(value):
            raise ValueError("templates are not allowed in the SQL text; put them in parameters and bind them")
        count = statement_count(value)
        if count != 1:
            raise ValueError(f"must hold exactly one SQL statement, found {count}")
        return value

    @field_validator("parameters")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
        if len(value) > 100:
            raise ValueError("at most 100 parameters")
        return value

    @model_validator(mode="after")
    def _every_placeholder_bound(self) -> DatabaseQueryConfig:
        missing = unbound_placeholders(self.query, self.bound_parameters())
        if missing:
            raise ValueError(f"the query uses {', '.join(missing)} but parameters has no value for it")
        return self

    def bound_parameters(self) -> dict[str, Any]:
        """As pg8000 wants them: by name; a list becomes names in order, which $1, $2 index."""
        if isinstance(self.parameters, list):
            return {f"p{index}": value for index, value in enumerate(self.parameters, start=1)}
        return dict(self.parameters)


def unbound_placeholders(query: str, parameters: dict[str, Any]) -> list[str]:
    from pg8000.native import to_statement

    class Recorder(dict[str, Any]):
        def __init__(self) -> None:
            super().__init__(parameters)
            self.missing: list[str] = []

        def __missing__(self, key: str) -> None:
            self.missing.append(f":{key}")

    _, make_values = to_statement(query)
    recorder = Recorder()
    try:
        make_values(recorder)
    except IndexError:
        return [f"${len(parameters) + 1}"]
    return recorder.missing


class DatabaseQueryJob(ConfiguredJobHandler[DatabaseQueryConfig]):
    """Runs the statement with a statement timeout and reports rows affected and (bounded) rows."""

    config_model = DatabaseQueryConfig

    def run(self, config: DatabaseQueryConfig) -> dict[str, Any]:
        import pg8000.native
        from pg8000.exceptions import DatabaseError, InterfaceError

        target = connection_target(database_url(self.platform))
        self.keep_secret(target["password"] or "")
        started = time.monotonic()
        try:
            connection = pg8000.native.Connection(**target, timeout=config.timeout / 1000 + CONNECT_TIMEOUT_S)
        except (InterfaceError, OSError) as exc:
            raise DatabaseQueryError(f"cannot connect to {target['host']}:{target['port']}: {exc}") from None
        try:
            connection.run("START TRANSACTION")
            connection.run(f"SET LOCAL statement_timeout = {int(config.timeout)}")
            parameters = config.bound_parameters() or {EXTENDED_PROTOCOL_PARAMETER: None}
            rows = connection.run(config.query, **parameters)
            affected = connection.row_count
            columns = [column["name"] for column in connection.columns or []]
            connection.run("COMMIT")
        except DatabaseError as exc:
            raise _classified(exc) from None
        except InterfaceError as exc:
            raise DatabaseQueryError(f"the connection failed: {exc}") from None
        finally:
            connection.close()
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        affected = max(affected or 0, 0)
        self.log(f"{_verb(config.query)}: {affected} rows in {elapsed_ms} ms")
        kept = [[json_value(value) for value in row] for row in (rows or [])[: config.max_rows]]
        return {
            "rows_affected": affected,
            "columns": columns,
            "rows": kept,
            "rows_truncated": len(rows or []) > len(kept),
            "elapsed_ms": elapsed_ms,
        }


def database_url(platform: Platform) -> str:
    settings = platform.settings
    url = settings.database_url or ""
    if not url and settings.database_url_secret:
        url = platform.secrets.platform_secret(settings.database_url_secret).strip()
    if not url:
        raise PermanentJobError(
            "DATABASE_URL is not set: database_query needs a PostgreSQL connection string "
            "(postgresql://user:password@host:5432/database), or TICKWORK_DATABASE_URL_SECRET naming one in SSM"
        )
    return url


def connection_target(url: str) -> dict[str, Any]:
    """pg8000 keyword arguments from a libpq-style URL; the password never appears in an error."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise PermanentJobError("DATABASE_URL must look like postgresql://user:password@host:5432/database")
    try:
        port = parts.port or 5432
    except ValueError:
        raise PermanentJobError("DATABASE_URL has a port that is not a number") from None
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    target: dict[str, Any] = {
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password is not None else None,
        "host": parts.hostname,
        "port": port,
        "database": unquote(parts.path.lstrip("/")) or None,
        "application_name": "tickwork",
    }
    mode = options.get("sslmode", "prefer")
    if mode == "require":
        context = ssl.create_default_context()
        # libpq's "require" encrypts without checking the certificate; verify-full checks both.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        target["ssl_context"] = context
    elif mode in ("verify-ca", "verify-full"):
        context = ssl.create_default_context()
        context.check_hostname = mode == "verify-full"
        target["ssl_context"] = context
    return target


def _classified(exc: Exception) -> Exception:
    fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    code = str(fields.get("C", ""))
    message = f"SQLSTATE {code}: {fields.get('M', exc)}" if code else f"database error: {exc}"
    if code == "57014":
        message += " (the statement ran past its timeout)"
    if code.startswith(PERMANENT_SQLSTATE_CLASSES):
        return PermanentJobError(message)
    return DatabaseQueryError(message)


def _verb(query: str) -> str:
    words = query.split(maxsplit=1)
    return words[0].upper() if words else "?"


def json_value(value: Any) -> Any:
    """A result cell as JSON can carry it (results are stored as JSON)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Decimal):
        return str(value)  # a float would round money
    if isinstance(value, datetime | date | clock_time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return str(value)
