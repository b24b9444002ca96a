"""[image] options: the image file store and upload limits."""

from oslo_config import cfg

GROUP = "image"

OPTS = [
    cfg.StrOpt(
        "filesystem_store_datadir",
        default="$state_path/images",
        help="Directory where the file store keeps image data, one file per image "
        "named by the image ID. Uploads are written to a temporary file in the same "
        "directory and renamed into place, so it must be on one filesystem.",
    ),
    cfg.IntOpt(
        "image_size_cap",
        default=1099511627776,
        min=1,
        max=9223372036854775807,
        help="Largest image, in bytes, that may be uploaded (default 1 TiB). The "
        "limit is enforced while data streams in: an upload that passes it is "
        "stopped and its partial file removed.",
    ),
    cfg.IntOpt(
        "filesystem_store_chunk_size",
        default=65536,
        min=4096,
        max=16777216,
        help="Size in bytes of the chunks read from the file store when image data is downloaded.",
    ),
    cfg.IntOpt(
        "filesystem_store_write_buffer",
        default=1048576,
        min=4096,
        max=67108864,
        help="Bytes of an upload received from the network that are collected before "
        "they are hashed and written in a worker thread. Larger values mean fewer "
        "thread hand-offs; each upload holds at most this much in memory.",
    ),
]
