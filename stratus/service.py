"""Process bootstrap shared by every Stratus command: configuration and logging."""

from __future__ import annotations

import logging
import os
import sys

from stratus.conf import CONF

DEFAULT_CONFIG = "/etc/stratus/stratus.conf"


def prepare(argv: list[str] | None, name: str) -> None:
    """Parse ``--config-file`` (default /etc/stratus/stratus.conf when it exists) and
    the command line, then set up logging to stderr and ``<log_dir>/<name>.log``."""
    defaults = [DEFAULT_CONFIG] if os.path.exists(DEFAULT_CONFIG) else []
    CONF(
        argv if argv is not None else sys.argv[1:],
        project="stratus",
        prog=name,
        default_config_files=defaults,
    )
    setup_logging(name)


def setup_logging(name: str) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if CONF.log_dir:
        os.makedirs(CONF.log_dir, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(CONF.log_dir, f"{name}.log")))
    logging.basicConfig(
        level=logging.DEBUG if CONF.debug else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s",
        handlers=handlers,
        force=True,
    )
    for noisy in ("alembic", "amqp", "kombu", "oslo_messaging", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
