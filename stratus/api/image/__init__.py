"""The OpenStack Image API v2 (Glance's dialect) served by stratus-api under ``/image``."""
