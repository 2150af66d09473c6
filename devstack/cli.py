"""``python -m devstack.cli``: mint tokens, create tables and queues, look at and steer jobs.

python -m devstack.cli token --role admin
python -m devstack.cli token --role store_owner --store S [--store T]
python -m devstack.cli token --role plugin --plugin-id P --store S
python -m devstack.cli provision          # against AWS_ENDPOINT_URL (or AWS)
python -m devstack.cli backfill-status-shards   # after upgrading: key old jobs in the status index
python -m devstack.cli rotate-signing-key [--drop-previous] [--parameter NAME | --local]
python -m devstack.cli cron preview '0 3 * * *' --tz Europe/Berlin   # computed here, no server
python -m devstack.cli jobs list|show ID|follow ID|retry ID|cancel ID
python -m devstack.cli batches list [--store S]|show ID|jobs ID [--status S]|cancel ID
python -m devstack.cli cron list|show ID|pause ID|resume ID|run ID
python -m devstack.cli plugin new acme-sync [--plugins-dir DIR]   # a plugin folder that passes its test

The jobs, batches and cron commands call the HTTP API: --url (default $TICKWORK_API_URL or
http://127.0.0.1:8000), --token (default $TICKWORK_TOKEN), --json for the API's JSON.
Exit codes: 0 done; 1 the API refused (its sentence on stderr) or a followed job did not
complete; 2 a usage error; 3 the API could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from chalicelib.auth import DEFAULT_TOKEN_TTL_S, Role, mint_token
from devstack.console import commands
from devstack.console.client import DEFAULT_TIMEOUT_S, ApiClient, ApiError, ConsoleError


def add_api_commands(subparsers: Any) -> None:
    """``jobs ...``, ``batches ...`` and ``cron ...``: each sets ``run`` to the function that carries it out."""
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--url", help="the API's base URL (default $TICKWORK_API_URL or http://127.0.0.1:8000)")
    api.add_argument("--token", help="a bearer token (default $TICKWORK_TOKEN)")
    api.add_argument("--json", action="store_true", help="print the API's JSON answer")
    api.add_argument("--http-timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per HTTP request")
    paging = argparse.ArgumentParser(add_help=False)
    paging.add_argument("--limit", type=int, help="how many to list (1-100)")
    paging.add_argument("--next-token", help="the page after the one that printed this token")

    health = subparsers.add_parser("health", parents=[api], help="whether the API answers and the minute tick runs")
    health.set_defaults(run=commands.health)

    jobs = subparsers.add_parser("jobs", help="background jobs").add_subparsers(dest="action", required=True)
    listing = jobs.add_parser("list", parents=[api, paging], help="list jobs, newest first")
    listing.add_argument("--status", help="pending, running, retrying, cancelling, completed, failed, cancelled")
    listing.add_argument("--type")
    listing.add_argument("--store")
    listing.add_argument("--plugin")
    listing.set_defaults(run=commands.jobs_list)
    for name, run, text in [
        ("show", commands.jobs_show, "a job with its result, error and log lines"),
        ("retry", commands.jobs_retry, "run a failed or cancelled job again"),
        ("cancel", commands.jobs_cancel, "cancel a pending or running job"),
    ]:
        sub = jobs.add_parser(name, parents=[api], help=text)
        sub.add_argument("id")
        sub.set_defaults(run=run)
    follow = jobs.add_parser("follow", parents=[api], help="draw a job's progress until it finishes")
    follow.add_argument("id")
    follow.add_argument("--interval", type=float, default=commands.DEFAULT_FOLLOW_INTERVAL_S, help="seconds per poll")
    follow.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    follow.set_defaults(run=commands.jobs_follow)

    batches = subparsers.add_parser("batches", help="batches of background jobs").add_subparsers(
        dest="action", required=True
    )
    listing = batches.add_parser("list", parents=[api, paging], help="a store's batches, newest first")
    listing.add_argument("--store", help="the store (needed unless the token has only one)")
    listing.add_argument("--status", help="creating, open, succeeded, finished")
    listing.set_defaults(run=commands.batches_list)
    show = batches.add_parser("show", parents=[api], help="a batch: progress, children by status, callbacks")
    show.add_argument("id")
    show.set_defaults(run=commands.batches_show)
    children = batches.add_parser("jobs", parents=[api, paging], help="a batch's children")
    children.add_argument("id")
    children.add_argument("--status", help="pending, running, retrying, cancelling, completed, failed, cancelled")
    children.set_defaults(run=commands.batches_jobs)
    cancel = batches.add_parser("cancel", parents=[api], help="cancel a batch's unfinished children")
    cancel.add_argument("id")
    cancel.set_defaults(run=commands.batches_cancel)

    cron = subparsers.add_parser("cron", help="cron jobs").add_subparsers(dest="action", required=True)
    listing = cron.add_parser("list", parents=[api, paging], help="list cron jobs")
    listing.add_argument("--store")
    listing.add_argument("--plugin")
    listing.add_argument("--type", help="job type")
    listing.add_argument("--state", choices=["active", "paused"])
    listing.set_defaults(run=commands.cron_list)
    show = cron.add_parser("show", parents=[api], help="a cron job and its latest runs")
    show.add_argument("id")
    show.add_argument("--runs", type=int, default=10, help="how many runs to show (1-100)")
    show.set_defaults(run=commands.cron_show)
    for name, run, text in [
        ("pause", commands.cron_set_state("pause"), "stop firing (missed slots follow the misfire policy)"),
        ("resume", commands.cron_set_state("resume"), "fire again"),
        ("run", commands.cron_run, "run it now, outside its schedule"),
    ]:
        sub = cron.add_parser(name, parents=[api], help=text)
        sub.add_argument("id")
        sub.set_defaults(run=run)
    preview = cron.add_parser("preview", help="describe an expression and list its next runs (no server needed)")
    preview.add_argument("expression", help="five fields or a macro, e.g. '*/15 9-17 * * mon-fri'")
    preview.add_argument("--tz", default="UTC", help="an IANA timezone (default UTC)")
    preview.add_argument("--count", type=int, default=5, choices=range(1, 101), metavar="1-100")
    preview.add_argument("--after", help="start after this ISO 8601 time (default now)")
    preview.add_argument("--json", action="store_true", help="print the answer as the API's preview would")


def run_api_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Carry out a jobs/batches/cron command; an error is one sentence on stderr and an exit code."""
    try:
        if args.command == "cron" and getattr(args, "action", None) == "preview":
            return commands.cron_preview(args, out)
        client = ApiClient.from_options(args.url, args.token, args.http_timeout)
        run: Callable[[argparse.Namespace, ApiClient, TextIO], int] = args.run
        return run(args, client, out)
    except ConsoleError as error:
        if isinstance(error, ApiError):
            err.write(f"error: {error.message} (HTTP {error.status}, {error.code})\n")
            for detail in error.details:
                if detail.get("field") and detail.get("message"):
                    err.write(f"  {detail['field']}: {detail['message']}\n")
        else:
            err.write(f"error: {error.message}\n")
        if getattr(args, "json", False) and error.body is not None:
            commands.emit(out, args, error.body, "")
        return error.exit_code
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
        return 130


def add_rotate_command(subparsers: Any) -> None:
    rotate = subparsers.add_parser(
        "rotate-signing-key",
        help="sign with a fresh secret; the current one becomes the previous one, which still verifies",
        description="See docs/signing-keys.md. Prints key ids (kid), never secrets.",
    )
    target = rotate.add_mutually_exclusive_group()
    target.add_argument(
        "--parameter", help="the current secret's SSM parameter (default $TICKWORK_JWT_SECRET_PARAMETER)"
    )
    target.add_argument("--local", action="store_true", help="the embedded stack's .tickwork/jwt-secret files, not SSM")
    rotate.add_argument(
        "--drop-previous",
        action="store_true",
        help="only forget the previous secret (once every token it signed has expired)",
    )


def rotate_signing_key(args: argparse.Namespace, parser: argparse.ArgumentParser, out: TextIO) -> int:
    """Rotate (or drop the previous) signing secret; prints key ids, never a secret."""
    from chalicelib import signing_keys
    from chalicelib.auth import Keyring, key_id
    from chalicelib.config import Settings

    settings = Settings.from_env()
    rotate: Callable[[], tuple[Keyring, Keyring | None]]
    drop: Callable[[], str | None]
    if args.local:
        from devstack import stack

        if settings.jwt_secret:
            parser.error("--local rotates .tickwork/jwt-secret, but $TICKWORK_JWT_SECRET overrides that file")
        secret_file = stack.SECRET_FILE
        where, after = str(secret_file), "restart the embedded stack to use it"
        rotate = lambda: signing_keys.rotate_file(secret_file)  # noqa: E731
        drop = lambda: signing_keys.drop_previous_file(secret_file)  # noqa: E731
    else:
        parameter = args.parameter or settings.jwt_secret_parameter
        if not parameter:
            parser.error("rotate-signing-key needs --parameter or $TICKWORK_JWT_SECRET_PARAMETER (or --local)")
        import boto3

        ssm = boto3.session.Session(region_name=settings.region).client("ssm")
        where, after = parameter, f"running services use it within {signing_keys.KEYRING_MAX_AGE_S / 60:g} minutes"
        rotate = lambda: signing_keys.rotate_parameter(ssm, parameter)  # noqa: E731
        drop = lambda: signing_keys.drop_previous_parameter(ssm, parameter)  # noqa: E731
    if args.drop_previous:
        dropped = drop()
        if dropped is None:
            out.write(f"{where}: there is no previous key to drop\n")
        else:
            out.write(f"{where}: dropped previous key {dropped}; tokens it signed are refused ({after})\n")
        return 0
    fresh, old = rotate()
    out.write(f"{where}: current key {key_id(fresh.current)} signs new tokens ({after})\n")
    if fresh.previous is not None:
        out.write(f"{where}: previous key {key_id(fresh.previous)} still verifies until --drop-previous\n")
    if old is not None and old.previous is not None:
        out.write(f"{where}: key {key_id(old.previous)} (the earlier previous) no longer verifies\n")
    return 0


def backfill_status_shards(out: TextIO) -> int:
    """Scan the jobs table (Settings.from_env()) and key every job in the sharded status index."""
    import boto3

    from chalicelib.config import Settings
    from chalicelib.runtime import Runtime

    settings = Settings.from_env()
    report = Runtime(
        settings, session=boto3.session.Session(region_name=settings.region)
    ).store.backfill_status_shards()
    out.write(
        f"{settings.jobs_table}: {report.scanned} jobs scanned, {report.written} keyed, "
        f"{report.moved} moved meanwhile (keyed by their move)\n"
    )
    return 0


def add_plugin_commands(subparsers: Any) -> None:
    plugin = subparsers.add_parser("plugin", help="plugins").add_subparsers(dest="action", required=True)
    new = plugin.add_parser("new", help="create a plugin: a handler, its payload model, a route and a test that passes")
    new.add_argument("name", help="the plugin's name in job types, e.g. acme-sync (folder acme_sync)")
    new.add_argument("--plugins-dir", type=Path, help="where to create it (default: the repository's plugins/)")


def new_plugin(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Create the plugin's folder and list its files; a refusal is one sentence on stderr."""
    from devstack.scaffold import DEFAULT_PLUGINS_DIR, ScaffoldError, create_plugin, plugin_names

    plugins_dir = args.plugins_dir or DEFAULT_PLUGINS_DIR
    try:
        created = create_plugin(args.name, plugins_dir)
    except ScaffoldError as error:
        err.write(f"error: {error}\n")
        return 1
    out.write(f"created plugin {args.name!r} ({plugin_names(args.name).job_type}):\n")
    for path in created:
        out.write(f"  {path}\n")
    out.write(f"run its tests: python -m pytest {created[0].parent / 'tests'}\n")
    return 0


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.cli")
    subparsers = parser.add_subparsers(dest="command", required=True)
    tok = subparsers.add_parser("token", help="print a bearer token (last line of stdout)")
    tok.add_argument("--role", choices=[r.value for r in Role], default="admin")
    tok.add_argument("--store", action="append", default=[], help="a store the token may act on (repeatable)")
    tok.add_argument("--plugin-id")
    tok.add_argument("--subject", default=None)
    tok.add_argument("--ttl", type=int, default=DEFAULT_TOKEN_TTL_S, help="seconds the token stays valid")
    subparsers.add_parser("provision", help="create the tables and queues if missing")
    subparsers.add_parser(
        "backfill-status-shards", help="give jobs stored before the status index was sharded their key in it"
    )
    add_rotate_command(subparsers)
    add_api_commands(subparsers)
    add_plugin_commands(subparsers)
    args = parser.parse_args(argv)
    if args.command in ("jobs", "batches", "cron", "health"):
        return run_api_command(args, out or sys.stdout, err or sys.stderr)

    if args.command == "token":
        role = Role(args.role)
        if role == Role.PLUGIN and not args.plugin_id:
            parser.error("--role plugin needs --plugin-id")
        if role != Role.ADMIN and not args.store:
            parser.error(f"--role {role.value} needs at least one --store")
        from devstack.stack import local_jwt_secret

        subject = args.subject or (args.plugin_id if role == Role.PLUGIN else f"cli-{role.value}")
        print(
            mint_token(
                local_jwt_secret(),
                role=role,
                subject=subject,
                stores=args.store,
                plugin_id=args.plugin_id,
                ttl_s=args.ttl,
            )
        )
        return 0
    if args.command == "provision":
        import boto3

        from chalicelib.aws.provision import provision
        from chalicelib.config import Settings

        settings = Settings.from_env()
        provision(boto3.session.Session(region_name=settings.region), settings)
        print(f"provisioned {settings.jobs_table} and the {settings.queue_prefix}* queues")
        return 0
    if args.command == "backfill-status-shards":
        return backfill_status_shards(out or sys.stdout)
    if args.command == "plugin":
        return new_plugin(args, out or sys.stdout, err or sys.stderr)
    if args.command == "rotate-signing-key":
        return rotate_signing_key(args, parser, out or sys.stdout)
    return 2


if __name__ == "__main__":
    sys.exit(main())
