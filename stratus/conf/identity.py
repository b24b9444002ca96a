"""[identity] options: tokens and passwords."""

from oslo_config import cfg

GROUP = "identity"

OPTS = [
    cfg.StrOpt(
        "key_repository",
        default="$state_path/fernet-keys",
        help="Directory of Fernet keys, as made by `stratus-manage fernet setup`.",
    ),
    cfg.IntOpt(
        "max_active_keys",
        default=3,
        min=2,
        help="Keys kept by `stratus-manage fernet rotate` (primary, secondary, staged).",
    ),
    cfg.IntOpt("token_expiration", default=3600, min=1, help="Seconds a token stays valid."),
    cfg.IntOpt(
        "password_hash_rounds",
        default=12,
        min=4,
        max=31,
        help="bcrypt cost factor for stored passwords.",
    ),
    cfg.StrOpt("default_domain", default="default", help="Id of the one identity domain."),
    cfg.StrOpt("region", default="RegionOne", help="Region of the catalog endpoints."),
]
