"""stratus-api: Identity v3, Compute v2.1 and Image v2 in one FastAPI application."""
