"""``python -m chalicelib.cli``: mint tokens, create tables and queues, look at jobs.

python -m chalicelib.cli token --role admin
python -m chalicelib.cli token --role store_owner --store S [--store T]
python -m chalicelib.cli token --role plugin --plugin-id P --store S
python -m chalicelib.cli provision          # against AWS_ENDPOINT_URL (or AWS)
"""

from __future__ import annotations

import argparse
import sys

from chalicelib.auth import DEFAULT_TOKEN_TTL_S, Role, mint_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    tok = commands.add_parser("token", help="print a bearer token (last line of stdout)")
    tok.add_argument("--role", choices=[r.value for r in Role], default="admin")
    tok.add_argument("--store", action="append", default=[], help="a store the token may act on (repeatable)")
    tok.add_argument("--plugin-id")
    tok.add_argument("--subject", default=None)
    tok.add_argument("--ttl", type=int, default=DEFAULT_TOKEN_TTL_S, help="seconds the token stays valid")
    commands.add_parser("provision", help="create the tables and queues if missing")
    args = parser.parse_args(argv)

    if args.command == "token":
        role = Role(args.role)
        if role == Role.PLUGIN and not args.plugin_id:
            parser.error("--role plugin needs --plugin-id")
        if role != Role.ADMIN and not args.store:
            parser.error(f"--role {role.value} needs at least one --store")
        from chalicelib.local import local_jwt_secret

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

        from chalicelib.config import Settings
        from chalicelib.provision import provision

        settings = Settings.from_env()
        provision(boto3.session.Session(region_name=settings.region), settings)
        print(f"provisioned {settings.jobs_table} and the {settings.queue_prefix}* queues")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
