"""``oms`` command line: serve the API and administer API keys / projections.

All real work lives in :mod:`infrastructure.bootstrap`, imported lazily so that
``oms --help`` stays fast and never touches the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from infrastructure.database import UnsafeDatabase
from infrastructure.settings import Settings, get_settings

ROLES = ("admin", "integrator", "auditor", "analyst")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    bootstrap.serve(settings)
    return 0


def _api_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    store = bootstrap.api_key_store(settings)
    try:
        key, secret = store.create(args.name, args.role, args.channels)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"id:     {key.id}")
    print(f"name:   {key.name}")
    print(f"role:   {key.role}")
    if key.channels is not None:
        print(f"channels: {', '.join(sorted(key.channels))}")
    print(f"secret: {secret}")
    print("Store the secret now; it cannot be shown again.", file=sys.stderr)
    return 0


def _api_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    store = bootstrap.api_key_store(settings)
    keys = store.list()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": str(k.id),
                        "name": k.name,
                        "role": str(k.role),
                        "created_at": k.created_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                        "channels": sorted(k.channels) if k.channels is not None else None,
                    }
                    for k in keys
                ],
                indent=2,
            )
        )
        return 0
    print(f"{'ID':36}  {'ROLE':10}  {'STATUS':7}  {'CREATED':25}  NAME")
    for k in keys:
        status = "revoked" if k.revoked_at else "active"
        print(f"{k.id!s:36}  {k.role!s:10}  {status:7}  {k.created_at.isoformat(timespec='seconds'):25}  {k.name}")
    return 0


def _api_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    store = bootstrap.api_key_store(settings)
    if store.revoke(args.id):
        print(f"revoked {args.id}")
        return 0
    print(f"no such API key: {args.id}", file=sys.stderr)
    return 1


def _projections_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    counts = bootstrap.rebuild_projections(settings, partitions=args.partitions)
    for name, count in sorted(counts.items()):
        print(f"{name}: {count}")
    return 0


def _projections_replay_partition(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    bootstrap.replay_partition(settings, args.name, args.partition, args.partitions, args.until)
    return 0


def _projections_run(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    bootstrap.run_projections(settings)
    return 0


def _notifications_send(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    bootstrap.run_notification_sender(settings)
    return 0


def _webhooks_run(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure.webhooks import run_webhooks

    run_webhooks(settings)
    return 0


def _writer(args: argparse.Namespace, settings: Settings) -> int:
    from infrastructure import bootstrap

    bootstrap.run_writer(settings, args.socket)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms", description="Order Management System")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="bind address (default: OMS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: OMS_PORT or 8000)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default: OMS_WORKERS or 1)")
    serve.set_defaults(handler=_serve)

    writer = sub.add_parser("writer", help="the writer process: takes the API processes' commands at a Unix "
                                           "socket (started by `oms serve`; not for direct use)")
    writer.add_argument("--socket", required=True, help="path of the Unix socket to listen at")
    writer.set_defaults(handler=_writer)

    keys = sub.add_parser("api-keys", help="manage API keys").add_subparsers(
        dest="api_keys_command", required=True, metavar="ACTION"
    )
    create = keys.add_parser("create", help="create a key and print its secret (shown once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True)
    create.add_argument("--channel", dest="channels", action="append", metavar="CHANNEL",
                        help="limit an integrator key to this channel's orders (repeat for several)")
    create.set_defaults(handler=_api_keys_create)
    list_ = keys.add_parser("list", help="list keys (never shows secrets)")
    list_.add_argument("--json", action="store_true", help="output JSON")
    list_.set_defaults(handler=_api_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    revoke.set_defaults(handler=_api_keys_revoke)

    projections = sub.add_parser("projections", help="manage read models").add_subparsers(
        dest="projections_command", required=True, metavar="ACTION"
    )
    rebuild = projections.add_parser("rebuild", help="drop and rebuild all projections from the event store")
    rebuild.add_argument("--partitions", type=int, default=1, metavar="N",
                         help="replay each projection in N processes at once, each taking a share of the "
                              "orders and stock items (default: 1, in this process)")
    rebuild.set_defaults(handler=_projections_rebuild)
    replay = projections.add_parser("replay-partition",
                                     help="one process of `rebuild --partitions` (started by it; not for direct use)")
    replay.add_argument("name")
    replay.add_argument("partition", type=int)
    replay.add_argument("partitions", type=int)
    replay.add_argument("until", type=int)
    replay.set_defaults(handler=_projections_replay_partition)
    run = projections.add_parser("run", help="keep the read models up to date (a worker process)")
    run.set_defaults(handler=_projections_run)

    notifications = sub.add_parser("notifications", help="customer e-mails and SMS").add_subparsers(
        dest="notifications_command", required=True, metavar="ACTION")
    send = notifications.add_parser("send", help="hand the outbox's messages over until stopped (the projection "
                                                 "worker does this already; one process sends at a time)")
    send.set_defaults(handler=_notifications_send)

    webhooks = sub.add_parser("webhooks", help="outbound webhooks").add_subparsers(
        dest="webhooks_command", required=True, metavar="ACTION")
    webhooks_run = webhooks.add_parser("run", help="fill the webhook outbox and send it until stopped (the projection "
                                                   "worker does this already; one process sends at a time)")
    webhooks_run.set_defaults(handler=_webhooks_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:  # a setting the service must not start with: say which and why
        for problem in error.errors():
            print(f"oms: {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    try:
        return int(args.handler(args, settings) or 0)
    except UnsafeDatabase as error:
        print(f"oms: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
