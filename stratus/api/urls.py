"""Public URLs the API puts in links and version documents."""

from fastapi import Request

from stratus.conf import CONF


def base_url(request: Request) -> str:
    """The API's public root, e.g. ``http://controller:8774``."""
    if CONF.api.public_url:
        return CONF.api.public_url.rstrip("/")
    cached = getattr(request.state, "base_url", None)
    if cached is None:
        cached = request.state.base_url = str(request.base_url).rstrip("/")
    return cached
