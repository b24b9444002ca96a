"""The one privilege-separation context of Stratus (oslo.privsep), as Nova's
``nova.privsep.sys_admin_pctxt``.

Services run as the unprivileged ``stratus`` user; the few operations that need
root (changing ownership of instance files, creating bridges, VXLAN devices and
network namespaces, starting dnsmasq inside a namespace, loading nftables rules)
are functions decorated with ``@sys_admin_pctxt.entrypoint``. They run in a
privsep daemon that keeps only the capabilities below. Entry points may live in
any module under ``stratus`` (the context's prefix); keep each one small, taking
and returning plain data.
"""

from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

sys_admin_pctxt = priv_context.PrivContext(
    "stratus",
    cfg_section="stratus_sys_admin",
    pypath=__name__ + ".sys_admin_pctxt",
    capabilities=[
        caps.CAP_CHOWN,
        caps.CAP_DAC_OVERRIDE,
        caps.CAP_DAC_READ_SEARCH,
        caps.CAP_FOWNER,
        caps.CAP_KILL,
        caps.CAP_NET_ADMIN,
        caps.CAP_NET_BIND_SERVICE,
        caps.CAP_NET_RAW,
        caps.CAP_SYS_ADMIN,
    ],
)
