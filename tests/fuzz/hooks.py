"""Schemathesis hooks (loaded through ``SCHEMATHESIS_HOOKS``): image JSON patches
are JSON under the Image API's own media type."""

import schemathesis

schemathesis.serializer.alias("application/openstack-images-v2.1-json-patch", "application/json")
