"""Compute API v2.1 with microversions."""
