"""stratus-api: serve Identity, Compute and Image over HTTP."""

from __future__ import annotations

import json
import os
import sys

import uvicorn

from stratus import service
from stratus.conf import CONF

ARGV_ENV = "STRATUS_API_ARGV"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    service.prepare(argv, "stratus-api")
    # Worker processes re-read the same command line (see stratus.api.app).
    os.environ[ARGV_ENV] = json.dumps(argv)
    uvicorn.run(
        "stratus.api.app:create_app",
        factory=True,
        host=CONF.api.bind_host,
        port=CONF.api.bind_port,
        workers=CONF.api.workers,
        log_config=None,
        access_log=CONF.debug,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
