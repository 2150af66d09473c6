"""``make run``: the whole service on one machine, on an embedded moto (or any AWS_ENDPOINT_URL).

    python -m devstack [--port 8000] [--no-workers] [--no-tick] [--fresh] [--no-reload] [--watch PATH]

moto's server on loopback (a process of its own) stands in for DynamoDB, SQS, SES, SSM and
Secrets Manager, and keeps its data in the state folder across a stop and a start
(devstack/snapshots.py; ``--fresh`` starts empty); the Chalice app serves the API; one poller
per priority queue feeds it to the Lambda worker function with the invocations the template
allows that queue (``deploy/concurrency.py``); the tick runs at the start of every minute.
By default the app runs in a child process, restarted when a watched file changes
(devstack/supervisor.py); ``--no-reload`` runs it all in this one. Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

STATE_DIR = Path(os.environ.get("TICKWORK_STATE_DIR", ".tickwork"))
SECRET_FILE = STATE_DIR / "jwt-secret"  # its retired predecessor, if any: jwt-secret-previous
AWS_STATE_FILE = STATE_DIR / "aws-state.json"  # the embedded moto's data (devstack/snapshots.py)
SECRET_PARAMETER = "/tickwork/dev/jwt-secret"  # the dev stage's, in .chalice/config.json
DEFAULT_REGION = "us-east-1"
STOP_GRACE_S = 5.0

logger = logging.getLogger("tickwork.local")


def local_jwt_secret() -> str:
    """The checkout's own signing secret: made once, kept under the ignored .tickwork/ folder."""
    if os.environ.get("TICKWORK_JWT_SECRET"):
        return os.environ["TICKWORK_JWT_SECRET"]
    if SECRET_FILE.exists():
        return SECRET_FILE.read_text().strip()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    SECRET_FILE.write_text(value + "\n")
    SECRET_FILE.chmod(0o600)
    return value


def local_jwt_previous_secret() -> str | None:
    """The secret `rotate-signing-key --local` retired, which still verifies (docs/signing-keys.md)."""
    if os.environ.get("TICKWORK_JWT_SECRET"):  # a secret of one's own: its predecessor too, or none
        return os.environ.get("TICKWORK_JWT_PREVIOUS_SECRET") or None
    from chalicelib.signing_keys import previous_file

    previous = previous_file(SECRET_FILE)
    return previous.read_text().strip() if previous.exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def real_aws_requested() -> bool:
    """TICKWORK_LOCAL_AWS=1: run against real AWS (boto3's credential chain, e.g. AWS_PROFILE)."""
    return os.environ.get("TICKWORK_LOCAL_AWS", "").strip().lower() in ("1", "true", "yes")


def prepare_environment(moto_port: int | None, *, real_aws: bool = False, state: Path | None = None) -> Any:
    """Point boto3 at moto (started here), at an existing AWS_ENDPOINT_URL, or at real AWS; returns the moto server.

    With ``state``, moto restores its data from that file and keeps it there.
    """
    server = start_aws(moto_port, real_aws=real_aws, state=state)
    if not real_aws:
        use_local_secrets()
    return server


def start_aws(moto_port: int | None, *, real_aws: bool = False, state: Path | None = None) -> Any:
    """The AWS half of prepare_environment: a supervisor starts moto once for all its children."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region
    if real_aws:
        # No fake keys (they would shadow AWS_PROFILE) and no local secret: the stage's tables,
        # queues and SSM secret are the deployed stack's (the dev stage's names by default).
        os.environ.setdefault("TICKWORK_JWT_SECRET_PARAMETER", SECRET_PARAMETER)
        return None
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    server = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        from devstack.moto_process import MotoProcess

        # Its own process: moto and the code calling it would otherwise share one GIL.
        server = MotoProcess(moto_port or free_port(), state=state).start()
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    return server


def use_local_secrets() -> None:
    """The checkout's signing secrets into the environment, read afresh (a reload sees a rotation)."""
    previous = local_jwt_previous_secret()
    os.environ["TICKWORK_JWT_SECRET"] = local_jwt_secret()
    if previous:
        os.environ["TICKWORK_JWT_PREVIOUS_SECRET"] = previous
    else:  # a leftover from another shell would verify tokens for a key this checkout never had
        os.environ.pop("TICKWORK_JWT_PREVIOUS_SECRET", None)


def clear_state(state: Path) -> bool:
    """``--fresh``: the embedded AWS starts empty (the signing secret stays: tokens keep working)."""
    found = state.exists()
    for path in (state, state.with_name(state.name + ".tmp")):
        path.unlink(missing_ok=True)
    return found


def start_database() -> Any:
    """A throwaway PostgreSQL for database_query jobs, unless DATABASE_URL names one already."""
    if os.environ.get("DATABASE_URL"):
        return None
    from devstack.postgres import PostgresUnavailableError, ThrowawayPostgres

    try:
        database = ThrowawayPostgres(free_port())
        os.environ["DATABASE_URL"] = database.start()
    except PostgresUnavailableError as exc:
        logger.warning("no local PostgreSQL (%s); database_query jobs will fail naming DATABASE_URL", exc)
        return None
    return database


def publish_secret(session: Any, secret: str, previous: str | None = None) -> None:
    # Plain `chalice local` reads the secrets from SSM (.chalice/config.json), like Lambda does.
    from chalicelib.signing_keys import delete_parameter, previous_parameter

    ssm = session.client("ssm")
    ssm.put_parameter(Name=SECRET_PARAMETER, Value=secret, Type="SecureString", Overwrite=True)
    if previous:
        ssm.put_parameter(
            Name=previous_parameter(SECRET_PARAMETER), Value=previous, Type="SecureString", Overwrite=True
        )
    else:
        delete_parameter(ssm, previous_parameter(SECRET_PARAMETER))


class Tick(threading.Thread):
    """Calls the tick Lambda at the start of every minute with an EventBridge-shaped event."""

    def __init__(self, function: Any, stop: threading.Event) -> None:
        super().__init__(name="tick", daemon=True)
        self._function = function
        self._stop_event = stop

    def run(self) -> None:
        from devstack.pollers import LambdaContext, scheduled_event

        while True:
            now = datetime.now(UTC)
            next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            if self._stop_event.wait((next_minute - now).total_seconds()):
                return
            event = scheduled_event(next_minute, os.environ["AWS_REGION"])
            try:
                self._function(event, LambdaContext(function_name="tickwork-tick", timeout_s=60))
            except Exception:
                logger.exception("tick failed")


def build_http_server(app_obj: Any, host: str, port: int) -> Any:
    from chalice.config import Config
    from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer

    from devstack.server import tune_chalice_local

    tune_chalice_local()
    # As `chalice local` does: a thread-local current_request for the threaded server.
    if not isinstance(app_obj, LocalChalice):  # a second server in one process: already local
        CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
        app_obj.__class__ = CustomLocalChalice
    return LocalDevServer(app_obj, Config.create(app_name="tickwork", chalice_app=app_obj), host, port)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "0")))
    parser.add_argument("--no-workers", action="store_true", help="do not poll the queues")
    parser.add_argument("--no-tick", action="store_true", help="do not run the minute tick")
    parser.add_argument("--no-database", action="store_true", help="do not start a throwaway PostgreSQL")
    parser.add_argument("--fresh", action="store_true", help="start the embedded AWS empty (make run FRESH=1)")
    parser.add_argument(
        "--no-reload", dest="reload", action="store_false", help="one process, no restart when a file changes"
    )
    parser.add_argument(
        "--watch",
        action="append",
        type=Path,
        metavar="PATH",
        help="a file or folder whose changes restart the app (repeatable; default: plugins/, chalicelib/, app.py)",
    )
    # Set by devstack/supervisor.py on the app process it runs: moto and PostgreSQL are its own.
    parser.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--embedded-moto", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reloaded", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from chalicelib.telemetry.setup import configure_logging

    # The JSON lines Lambda writes; on a terminal, the same fields as one readable line each.
    configure_logging(os.environ.get("LOG_LEVEL"), console=sys.stdout.isatty())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.reload and not args.supervised:
        from devstack.supervisor import supervise

        return supervise(args)
    return run_stack(args)


def fresh_start(args: argparse.Namespace, real_aws: bool) -> Path | None:
    """The embedded moto's state file, emptied first on --fresh; None when moto is not ours."""
    if real_aws or os.environ.get("AWS_ENDPOINT_URL"):
        if args.fresh:
            logger.warning("--fresh: the AWS endpoint is not the embedded moto; its data is left as it is")
        return None
    if args.fresh and clear_state(AWS_STATE_FILE):
        logger.info("--fresh: the embedded AWS starts empty (%s removed)", AWS_STATE_FILE)
    return AWS_STATE_FILE


def watch_parent() -> None:
    """A supervised app ends with its supervisor, however that ends (its stdin is the supervisor's pipe)."""

    from devstack.parent import when_parent_exits

    # Its jobs come back by their leases, as when a deploy replaces a Lambda.
    when_parent_exits(lambda: os._exit(1), name="supervisor-watch")


def run_stack(args: argparse.Namespace) -> int:
    real_aws = real_aws_requested()
    if args.supervised:
        watch_parent()
        start_aws(None, real_aws=real_aws)  # AWS_ENDPOINT_URL: the supervisor's moto, if any
        if not real_aws:
            use_local_secrets()
        moto, embedded = None, args.embedded_moto
        database, database_port = None, args.database_port
    else:
        state = fresh_start(args, real_aws)
        moto = prepare_environment(args.moto_port or None, real_aws=real_aws, state=state)
        embedded = moto is not None
        database = None if args.no_database else start_database()
        database_port = database.port if database is not None else None
    import boto3

    from chalicelib import runtime
    from chalicelib.aws.provision import provision
    from chalicelib.config import Settings, queue_name
    from chalicelib.jobs.lifecycle import PRIORITY_ORDER
    from deploy.concurrency import MAXIMUM_CONCURRENCY
    from devstack.pollers import start_queue_pollers

    # As the deployed workers do (.chalice/config.json): a batch's records run side by side.
    os.environ.setdefault("TICKWORK_RECORD_CONCURRENCY", "10")
    # One process runs every invocation: each shared client is called by all their records at
    # once, and by the tick's pool.
    os.environ.setdefault(
        "TICKWORK_BOTO_POOL_CONNECTIONS",
        str(sum(MAXIMUM_CONCURRENCY.values()) * int(os.environ["TICKWORK_RECORD_CONCURRENCY"]) + 32),
    )
    # api_call jobs call this very API (the guide's /api/my-plugin/sync).
    os.environ.setdefault("TICKWORK_API_BASE_URL", f"http://{args.host}:{args.port}")
    settings = Settings.from_env()
    session = boto3.session.Session(region_name=settings.region)
    if not real_aws:  # on AWS the stack owns the tables, the queues and the secret
        provision(session, settings)
        publish_secret(session, os.environ["TICKWORK_JWT_SECRET"], os.environ.get("TICKWORK_JWT_PREVIOUS_SECRET"))
    if embedded:
        # email jobs send from a verified identity; on the embedded SES we verify one ourselves.
        os.environ.setdefault("TICKWORK_EMAIL_SENDER", "tickwork@example.com")
        session.client("ses").verify_email_identity(EmailAddress=os.environ["TICKWORK_EMAIL_SENDER"])
    runtime.use(None)

    sys.path.insert(0, os.getcwd())
    import app as app_module

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    # Before anything serves: a SIGINT once /api/health answers must mean a clean stop.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    sqs = session.client("sqs")
    urls = {
        p: sqs.get_queue_url(QueueName=queue_name(settings.queue_prefix, p.value))["QueueUrl"] for p in PRIORITY_ORDER
    }
    threads: list[threading.Thread] = []
    if not args.no_workers:
        threads += start_queue_pollers(
            sqs=sqs,
            queue_urls=urls,
            workers={p: app_module.WORKERS[p.value] for p in PRIORITY_ORDER},
            region=settings.region,
            receive_visibility_s=settings.lease_s,
            stop=stop,
        )
    if not args.no_tick:
        tick = Tick(app_module.tick, stop)
        tick.start()
        threads.append(tick)

    server = build_http_server(app_module.app, args.host, args.port)
    http_thread = threading.Thread(target=server.server.serve_forever, name="http", daemon=True)
    http_thread.start()

    if not args.reloaded:
        print_banner(args, settings, session, embedded=embedded, database_port=database_port)

    # A timed wait: a signal delivered to another thread only sets a flag, and a main thread
    # blocked in an untimed wait would never run the handler (a SIGINT could go unnoticed).
    while not stop.wait(0.25):
        pass
    if not args.supervised:
        print("stopping...", flush=True)
    server.shutdown()
    # One deadline for all: a poller inside a long job is a daemon thread, and its job comes
    # back by its lease (what a deploy does to a Lambda), so the stack need not wait for it.
    deadline = time.monotonic() + STOP_GRACE_S
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if moto is not None:
        moto.stop()
    if database is not None:
        database.stop()
    if not args.supervised:
        print("stopped.", flush=True)
    return 0


def print_banner(
    args: argparse.Namespace, settings: Any, session: Any, *, embedded: bool, database_port: int | None
) -> None:
    from chalicelib import runtime
    from chalicelib.auth import Role, mint_token
    from chalicelib.jobs.lifecycle import PRIORITY_ORDER
    from deploy.concurrency import MAXIMUM_CONCURRENCY

    admin = mint_token(runtime.current().jwt_secret, role=Role.ADMIN, subject="local-admin")
    base = f"http://{args.host}:{args.port}"
    print(f"tickwork is running\n  API:          {base}/api  (health: {base}/api/health)", flush=True)
    print(f"  dashboard:    {base}/  (paste the admin token below)", flush=True)
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"AWS {settings.region} (profile {session.profile_name})"
    print(f"  AWS endpoint: {endpoint}" + ("  (embedded moto)" if embedded else ""), flush=True)
    if embedded:
        print(f"  data:         kept in {AWS_STATE_FILE} (make run FRESH=1 starts empty)", flush=True)
    if database_port is not None:
        print(f"  PostgreSQL:   127.0.0.1:{database_port} (throwaway, for database_query jobs)", flush=True)
    elif not os.environ.get("DATABASE_URL"):
        print("  PostgreSQL:   none; database_query jobs fail until DATABASE_URL is set", flush=True)
    if not args.no_workers:
        limits = ", ".join(f"{p.value} {MAXIMUM_CONCURRENCY[p]}" for p in PRIORITY_ORDER)
        print(f"  workers:      a poller per queue, batches at once as on AWS: {limits}", flush=True)
    print(f"  admin token:  {admin}", flush=True)
    print("Ctrl-C stops everything.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
