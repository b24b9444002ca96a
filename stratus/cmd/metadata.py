"""stratus-metadata: serve the instance metadata to the metadata proxies."""

from __future__ import annotations

import sys

import uvicorn

from stratus import service
from stratus.conf import CONF
from stratus.metadata.service import create_app


def main(argv: list[str] | None = None) -> None:
    service.prepare(sys.argv[1:] if argv is None else argv, "stratus-metadata")
    uvicorn.run(
        create_app(),
        host=CONF.metadata.bind_host,
        port=CONF.metadata.bind_port,
        log_config=None,
        access_log=CONF.debug,
    )


if __name__ == "__main__":
    main()
