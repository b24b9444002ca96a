"""[libvirt] options: the libvirt compute driver."""

from oslo_config import cfg

GROUP = "libvirt"

OPTS = [
    cfg.StrOpt(
        "virt_type",
        default="auto",
        choices=[
            ("kvm", "hardware virtualisation through /dev/kvm"),
            ("qemu", "QEMU's software emulation (TCG); slow but works everywhere"),
            (
                "auto",
                "kvm when a short boot probe shows KVM guests make progress on "
                "this host, otherwise qemu",
            ),
        ],
        help="Kind of virtualisation libvirt uses for guests.",
    ),
    cfg.StrOpt(
        "connection_uri",
        default="",
        help="libvirt connection URI; empty means the one for virt_type (qemu:///system).",
    ),
    cfg.FloatOpt(
        "kvm_probe_timeout",
        default=5.0,
        min=0.5,
        help="Seconds the virt_type = auto probe gives a tiny KVM guest to switch to "
        "protected mode and report on its serial port. A working KVM host needs well "
        "under a second.",
    ),
    cfg.StrOpt(
        "images_type",
        default="qcow2",
        choices=[
            ("qcow2", "a qcow2 overlay backed by the cached base image"),
            ("raw", "a full raw copy of the base image"),
            ("flat", "same as raw"),
        ],
        help="Format of an instance's root disk.",
    ),
    cfg.IntOpt(
        "soft_reboot_timeout",
        default=120,
        min=0,
        help="Seconds a soft reboot waits for the guest to shut down after the ACPI "
        "power button before it falls back to a hard reboot.",
    ),
    cfg.StrOpt(
        "cpu_mode",
        choices=[
            ("host-model", "a CPU model close to the host's"),
            ("host-passthrough", "the host CPU as is"),
            ("none", "the hypervisor's default CPU model"),
        ],
        help="Guest CPU mode; unset means host-model for kvm and none for qemu.",
    ),
    cfg.BoolOpt(
        "vnc_enabled",
        default=False,
        help="Give each guest a VNC console.",
    ),
    cfg.StrOpt(
        "vnc_listen",
        default="127.0.0.1",
        help="Address the guests' VNC servers listen on.",
    ),
]
