"""stratus-manage: the operator's tool, as nova-manage is Nova's.

stratus-manage --version | version
stratus-manage [--config-file F] db sync | db version
stratus-manage [--config-file F] db online_data_migrations [--max-count N]
stratus-manage [--config-file F] service list [--host H]
stratus-manage [--config-file F] config list
stratus-manage [--config-file F] fernet setup | fernet rotate
stratus-manage [--config-file F] bootstrap --bootstrap-password P
               --bootstrap-public-url http://controller:8774 [...]

Bad arguments print the usage and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from oslo_config import cfg
from sqlalchemy.exc import SQLAlchemyError

from stratus import service
from stratus.conf import CONF
from stratus.version import version_string


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratus-manage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_string())
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="configuration file (repeatable; default /etc/stratus/stratus.conf)",
    )
    parser.add_argument("--config-dir", metavar="DIR", help="directory of *.conf files")
    groups = parser.add_subparsers(dest="category", required=True, metavar="COMMAND")
    groups.add_parser("version", help="print the version of Stratus")

    db = groups.add_parser("db", help="database schema and data")
    db_actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_actions.add_parser("sync", help="upgrade the schema to the newest revision")
    db_actions.add_parser("version", help="print the schema's revision")
    online = db_actions.add_parser(
        "online_data_migrations",
        help="convert existing rows in batches while the services run",
    )
    online.add_argument(
        "--max-count",
        type=_positive,
        metavar="N",
        help="migrate at most N rows, then stop (default: batches of 50 until done)",
    )

    services = groups.add_parser("service", help="the services' registrations")
    service_actions = services.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = service_actions.add_parser("list", help="binary, host, zone, status, state")
    listing.add_argument("--host", help="only the services of this host")

    config = groups.add_parser("config", help="configuration")
    config_actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    config_actions.add_parser("list", help="every option and its value, secrets masked")

    fernet = groups.add_parser("fernet", help="token keys")
    fernet.add_argument("action", choices=["setup", "rotate"])

    boot = groups.add_parser("bootstrap", help="create the admin identity and the catalog")
    boot.add_argument("--bootstrap-password", required=True)
    boot.add_argument("--bootstrap-username", default="admin")
    boot.add_argument("--bootstrap-project-name", default="admin")
    boot.add_argument("--bootstrap-role-name", default="admin")
    boot.add_argument("--bootstrap-region-id", default=None)
    boot.add_argument(
        "--bootstrap-public-url",
        required=True,
        help="API root as clients reach it, e.g. http://controller:8774",
    )
    boot.add_argument("--bootstrap-internal-url", default=None)
    boot.add_argument("--bootstrap-admin-url", default=None)
    return parser


def _run(args: argparse.Namespace) -> int:
    from stratus import manage

    if args.category == "db":
        if args.action == "online_data_migrations":
            return manage.online_data_migrations(args.max_count)
        print(manage.db_sync() if args.action == "sync" else manage.db_version())
    elif args.category == "service":
        print(manage.service_list(args.host))
    elif args.category == "config":
        print(manage.config_list())
    elif args.category == "fernet":
        print(manage.fernet_setup() if args.action == "setup" else manage.fernet_rotate())
    else:
        urls = {
            "public": args.bootstrap_public_url,
            "internal": args.bootstrap_internal_url,
            "admin": args.bootstrap_admin_url,
        }
        print(
            manage.bootstrap(
                password=args.bootstrap_password,
                username=args.bootstrap_username,
                project_name=args.bootstrap_project_name,
                admin_role=args.bootstrap_role_name,
                region=args.bootstrap_region_id or CONF.identity.region,
                urls={k: v for k, v in urls.items() if v},
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.category == "version":
        print(version_string())
        return 0
    conf_args = [arg for path in args.config_file for arg in ("--config-file", path)]
    if args.config_dir:
        conf_args += ["--config-dir", args.config_dir]
    try:
        service.prepare(conf_args, "stratus-manage")
    except cfg.Error as exc:  # a missing, unreadable or malformed configuration file
        print(f"stratus-manage: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # one that oslo.config does not catch (a directory ...)
        print(f"stratus-manage: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        return _run(args)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc)
        print(f"stratus-manage: database error: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
