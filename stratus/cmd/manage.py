"""stratus-manage: database, Fernet keys and identity bootstrap.

stratus-manage [--config-file F] db sync | db version
stratus-manage [--config-file F] fernet setup | fernet rotate
stratus-manage [--config-file F] bootstrap --bootstrap-password P
               --bootstrap-public-url http://controller:8774 [...]
"""

from __future__ import annotations

import argparse
import sys

from stratus import service
from stratus.conf import CONF


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stratus-manage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="configuration file (repeatable; default /etc/stratus/stratus.conf)",
    )
    parser.add_argument("--config-dir", metavar="DIR", help="directory of *.conf files")
    groups = parser.add_subparsers(dest="category", required=True)
    db = groups.add_parser("db", help="database schema")
    db.add_argument("action", choices=["sync", "version"])
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    conf_args = [arg for path in args.config_file for arg in ("--config-file", path)]
    if args.config_dir:
        conf_args += ["--config-dir", args.config_dir]
    service.prepare(conf_args, "stratus-manage")
    from stratus import manage

    if args.category == "db":
        print(manage.db_sync() if args.action == "sync" else manage.db_version())
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


if __name__ == "__main__":
    sys.exit(main())
