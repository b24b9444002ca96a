"""[DEFAULT] options shared by every service."""

import socket

from oslo_config import cfg

GROUP = None

OPTS = [
    cfg.StrOpt(
        "host",
        default=socket.gethostname(),
        sample_default="<hostname>",
        help="Name of this node, used as the service host and the compute RPC topic.",
    ),
    cfg.StrOpt(
        "state_path", default="/var/lib/stratus", help="Top-level directory for Stratus state."
    ),
    cfg.StrOpt("log_dir", help="Directory for <service>.log files; unset logs to stderr only."),
    cfg.BoolOpt("debug", default=False, help="Log at DEBUG level."),
    cfg.IntOpt(
        "service_down_time",
        default=60,
        min=1,
        help="Seconds since the last heartbeat after which a service counts as down.",
    ),
    cfg.IntOpt(
        "report_interval", default=10, min=1, help="Seconds between a service's heartbeats."
    ),
]
OPTS += [
    cfg.StrOpt(
        "default_availability_zone",
        default="nova",
        help="Zone of compute hosts that no aggregate puts in a zone.",
    ),
    cfg.StrOpt(
        "internal_service_availability_zone",
        default="internal",
        help="Zone shown for services other than stratus-compute.",
    ),
]
