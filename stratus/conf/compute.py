"""[compute] options: the compute agent, its instance storage and image cache."""

from oslo_config import cfg

GROUP = "compute"

OPTS = [
    cfg.StrOpt(
        "compute_driver",
        default="libvirt",
        choices=[
            ("libvirt", "libvirt with KVM or QEMU (TCG) guests"),
            ("fake", "in-memory driver with no guests, for tests and scale runs"),
        ],
        help="Virtualisation driver used by stratus-compute.",
    ),
    cfg.StrOpt(
        "instances_path",
        default="$state_path/instances",
        help="Where instance files live: one <uuid>/ directory per instance (disk, "
        "disk.info, libvirt.xml, console.log) and the image cache in "
        "<instances_path>/<image_cache_subdirectory_name>. QEMU runs as an unprivileged "
        "user, so every directory on this path must be searchable by it.",
    ),
    cfg.StrOpt(
        "image_cache_subdirectory_name",
        default="_base",
        help="Directory under instances_path holding the cached base images.",
    ),
    cfg.IntOpt(
        "image_cache_max_age",
        default=86400,
        min=0,
        help="Seconds a cached base image may stay unused by any instance on this "
        "host before the periodic cleanup removes it.",
    ),
    cfg.IntOpt(
        "image_cache_manager_interval",
        default=2400,
        min=-1,
        help="Seconds between runs of the image cache cleanup; 0 runs it at the "
        "default periodic interval, -1 disables it.",
    ),
    cfg.IntOpt(
        "shutdown_timeout",
        default=60,
        min=0,
        help="Seconds to wait for a guest to shut down cleanly (ACPI power button) "
        "when it is stopped, before it is powered off; 0 powers off at once.",
    ),
    cfg.IntOpt(
        "fake_vcpus",
        default=16,
        min=1,
        help="vCPUs reported by the fake driver.",
    ),
    cfg.IntOpt(
        "fake_memory_mb",
        default=32768,
        min=1,
        help="Memory (MiB) reported by the fake driver.",
    ),
    cfg.IntOpt(
        "fake_local_gb",
        default=1024,
        min=1,
        help="Local disk (GiB) reported by the fake driver.",
    ),
    cfg.BoolOpt(
        "fault_inject_spawn",
        default=False,
        help="Testing only: make every spawn on this host fail, so that rescheduling "
        "to an alternate host can be exercised. Never set this in production.",
    ),
    cfg.BoolOpt(
        "force_config_drive",
        default=False,
        help="Give every new server a config drive (an ISO 9660 volume labelled "
        "config-2 holding its metadata), whether its create request asks for one or not.",
    ),
]
