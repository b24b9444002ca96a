"""The OpenStack Networking API v2.0 (Neutron's dialect)."""
