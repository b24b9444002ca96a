"""[scheduler] options of the stratus-scheduler service and of rescheduling."""

from oslo_config import cfg

GROUP = "scheduler"

OPTS = [
    cfg.IntOpt(
        "max_attempts",
        default=3,
        min=1,
        help="Hosts a build may be tried on: the primary plus max_attempts - 1 "
        "alternates returned with it.",
    ),
    cfg.FloatOpt(
        "host_refresh_interval",
        default=5.0,
        min=0,
        help="Seconds the scheduler's in-memory host table is reused before it "
        "is reloaded from the database. A lost claim reloads it at once.",
    ),
    cfg.IntOpt(
        "claim_retries",
        default=5,
        min=0,
        help="Times a request is placed again after a concurrent scheduler "
        "claimed the chosen resources first.",
    ),
]
