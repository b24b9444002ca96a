# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)
"""The documentation of the options every Stratus module shares.

A module names these in ``extends_documentation_fragment``: ``stratus`` (how to
reach the cloud: ``cloud``, ``auth``, ``region_name`` ...), then ``stratus.wait``
(a module that waits for its changes) or ``stratus.no_wait`` (one that does not),
and ``stratus.info`` for a read-only module's attributes. The argument spec they
document lives in ``module_utils``: ``stratus_config.connection_argument_spec()``
and ``stratus_module.wait_argument_spec()``.

Ansible finds this file through ``doc_fragment_plugins`` in ``ansible.cfg``;
``tests/sanity/run-sanity`` copies it to the collection's ``plugins/doc_fragments/``.
"""

from __future__ import annotations


class ModuleDocFragment:
    # How to reach the cloud (stratus_config.connection_argument_spec).
    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - Name of a cloud in C(clouds.yaml), looked for in C($OS_CLIENT_CONFIG_FILE),
        C(./clouds.yaml), C(~/.config/openstack/clouds.yaml) and
        C(/etc/openstack/clouds.yaml) (the first file found is used).
      - Defaults to C($OS_CLOUD). Without a cloud, the C(OS_*) environment variables
        are used.
    type: str
  auth:
    description:
      - Credentials, overriding those of O(cloud) key by key. Only O(auth.password) and
        O(auth.token) are kept out of logs, so messages can name the URL and the user.
    type: dict
    suboptions:
      auth_url:
        description: Identity v3 URL (C(/v3) is added when missing).
        type: str
      username:
        description: User name (with O(auth.user_domain_name)).
        type: str
      user_id:
        description: User id, instead of O(auth.username).
        type: str
      password:
        description: Password of the user.
        type: str
      token:
        description: An existing token, instead of a password.
        type: str
      project_name:
        description: Project to scope the token to (with O(auth.project_domain_name)).
        type: str
      project_id:
        description: Project id, instead of O(auth.project_name).
        type: str
      user_domain_name:
        description: Domain of the user. Defaults to C(Default).
        type: str
      user_domain_id:
        description: Domain id of the user.
        type: str
      project_domain_name:
        description: Domain of the project. Defaults to C(Default).
        type: str
      project_domain_id:
        description: Domain id of the project.
        type: str
      domain_name:
        description: Domain of both the user and the project, when those are not given.
        type: str
      domain_id:
        description: Domain id of both the user and the project, when those are not given.
        type: str
  region_name:
    description: Region of the catalog endpoints to use.
    type: str
  interface:
    description:
      - Catalog interface to use. Defaults to the cloud's C(interface), else V(public).
    type: str
    choices: [public, internal, admin]
    aliases: [endpoint_type]
  validate_certs:
    description:
      - Whether to verify TLS certificates. Defaults to the cloud's C(verify), else V(true).
    type: bool
    aliases: [verify]
  ca_cert:
    description: CA bundle to verify the API's TLS certificate with.
    type: path
    aliases: [cacert]
  api_timeout:
    description:
      - Timeout of each API request in seconds. Defaults to the cloud's C(api_timeout),
        else 60.
    type: int
notes:
  - Needs only Ansible on the host that runs it (no openstacksdk).
"""

    # A module that waits for its changes (stratus_module.wait_argument_spec).
    WAIT = r"""
options:
  wait:
    description:
      - Whether to wait until the change is complete (the module's description says
        what it waits for).
    type: bool
    default: true
  timeout:
    description: How many seconds to wait when O(wait=true).
    type: int
    default: 300
"""

    # A module that takes wait and timeout as every Stratus module does, but has
    # nothing to wait for.
    NO_WAIT = r"""
options:
  wait:
    description:
      - Not used by this module, which has nothing to wait for (it only reads, or
        its changes are complete when the API answers).
    type: bool
    default: true
  timeout:
    description: Not used by this module.
    type: int
    default: 300
"""

    # A module that only reads.
    INFO = r"""
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Reads only; there is nothing to show.
    support: none
"""
