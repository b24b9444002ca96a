"""[database] options."""

from oslo_config import cfg

GROUP = "database"

OPTS = [
    cfg.StrOpt(
        "connection",
        secret=True,
        default="sqlite:///$state_path/stratus.sqlite",
        help="SQLAlchemy URL of the database: sqlite:///path (the embedded default) or "
        "mysql+pymysql://user:password@host/stratus for MariaDB.",
    ),
    cfg.IntOpt(
        "sqlite_busy_timeout",
        default=30,
        min=0,
        help="Seconds a SQLite writer waits for a lock before failing.",
    ),
    cfg.IntOpt(
        "max_pool_size",
        default=10,
        min=1,
        help="Connections kept open per process; as many again may be opened for a "
        "burst and are closed after it.",
    ),
    cfg.IntOpt(
        "pool_recycle", default=3600, help="Seconds after which a pooled connection is replaced."
    ),
]
