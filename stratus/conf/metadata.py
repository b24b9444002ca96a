"""[metadata]: the instance metadata that guests read (config drive and service)."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "metadata"

OPTS = [
    cfg.HostAddressOpt(
        "bind_host",
        default="0.0.0.0",  # noqa: S104 - the metadata proxies reach it over the network
        help="Address stratus-metadata listens on.",
    ),
    cfg.PortOpt("bind_port", default=8775, help="Port stratus-metadata listens on."),
    cfg.StrOpt(
        "dhcp_domain",
        default="novalocal",
        help="Domain that completes a single-label host name in the instance "
        "metadata (meta_data.json 'hostname'); empty leaves it as it is. Fully "
        "qualified host names (microversion 2.94) are never completed.",
    ),
    cfg.IntOpt(
        "cache_expiration",
        default=15,
        min=0,
        help="Seconds stratus-metadata keeps an instance's metadata after reading it "
        "from the database (a guest asks for many paths in a row); a change to the "
        "server's metadata reaches the guest after at most this long. 0 reads the "
        "database on every request.",
    ),
    cfg.StrOpt(
        "shared_secret",
        default="",
        secret=True,
        help="Secret shared with the metadata proxies: the metadata service accepts "
        "a request only when its X-Instance-ID-Signature header is the HMAC-SHA256 "
        "of the X-Instance-ID header under this secret. Empty refuses every request. "
        "The network agents' metadata proxies sign with it: set the same value on the "
        "hosts that run stratus-metadata and on the DHCP hosts.",
    ),
    cfg.URIOpt(
        "metadata_url",
        schemes=["http", "https"],
        help="Where the metadata proxies of a DHCP host (stratus-network-agent with "
        "[network] dhcp_agent) reach stratus-metadata, for example "
        "http://controller:8775. When it and shared_secret are set, every DHCP "
        "namespace answers http://169.254.169.254/ (the address is added to its DHCP "
        "interface, and DHCP offers guests the classless route to it through that "
        "interface); unset runs no proxy.",
    ),
]
