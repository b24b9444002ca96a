"""[quota] default limits per project (-1 means unlimited)."""

from oslo_config import cfg

GROUP = "quota"

OPTS = [
    cfg.IntOpt("instances", default=10, min=-1, help="Servers per project."),
    cfg.IntOpt("cores", default=20, min=-1, help="vCPUs per project."),
    cfg.IntOpt("ram", default=51200, min=-1, help="RAM in MiB per project."),
    cfg.IntOpt(
        "metadata_items",
        default=128,
        min=-1,
        help="Metadata items per server, and extra specs per flavor.",
    ),
    cfg.IntOpt("key_pairs", default=100, min=-1, help="Key pairs per user."),
    cfg.IntOpt("server_groups", default=10, min=-1, help="Server groups per project."),
    cfg.IntOpt("server_group_members", default=10, min=-1, help="Servers per server group."),
    cfg.IntOpt("injected_files", default=5, min=-1, help="Injected files per server."),
    cfg.IntOpt(
        "injected_file_content_bytes", default=10240, min=-1, help="Bytes per injected file."
    ),
    cfg.IntOpt(
        "injected_file_path_length", default=255, min=-1, help="Characters per injected file path."
    ),
]
