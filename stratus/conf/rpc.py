"""[rpc] timeouts of the calls between Stratus services."""

from oslo_config import cfg

GROUP = "rpc"

OPTS = [
    cfg.IntOpt(
        "call_timeout",
        default=60,
        min=1,
        help="Seconds an rpc.call waits for its answer (select_destinations, "
        "conductor proxy calls from compute).",
    ),
]
