"""stratus-conductor."""
