"""[compute] options of the compute service's own loop (the driver's are in compute.py)."""

from oslo_config import cfg

GROUP = "compute"

OPTS = [
    cfg.StrOpt(
        "my_ip",
        default="127.0.0.1",
        help="This host's address, reported to the scheduler for "
        "SimpleCIDRAffinityFilter and shown as the hypervisor's host_ip.",
    ),
    cfg.IntOpt(
        "resource_update_interval",
        default=60,
        min=1,
        help="Seconds between reports of the node's resources to the conductor.",
    ),
    cfg.IntOpt(
        "sync_power_state_interval",
        default=10,
        min=1,
        help="Seconds between power-state syncs; a guest that died becomes SHUTOFF.",
    ),
    cfg.IntOpt(
        "fake_node_count",
        default=1,
        min=1,
        help="With compute_driver = fake: how many compute nodes this one process "
        "runs, named <host>-000, <host>-001, ... (for scale tests).",
    ),
]
