"""[api] options of stratus-api."""

from oslo_config import cfg

GROUP = "api"

OPTS = [
    cfg.HostAddressOpt("bind_host", default="0.0.0.0", help="Address stratus-api listens on."),
    cfg.PortOpt("bind_port", default=8774, help="Port stratus-api listens on."),
    cfg.IntOpt("workers", default=1, min=1, help="Number of API worker processes."),
    cfg.StrOpt(
        "public_url",
        help="Base URL clients use to reach the API, e.g. "
        "http://controller:8774. Defaults to the URL of each request.",
    ),
    cfg.IntOpt(
        "max_limit",
        default=1000,
        min=1,
        help="Largest page a list returns, whatever `limit` asks for.",
    ),
    cfg.BoolOpt(
        "enable_instance_password",
        default=True,
        help="Return an adminPass when a server is created, as Nova does.",
    ),
]
