"""Images: format and status rules, content inspection and the file store.

The Image API and the compute image cache both use this package, so there is
one definition of what a valid, safe image is.
"""

from stratus.image.formats import (
    AMAZON_FORMATS,
    CONTAINER_FORMATS,
    DISK_FORMATS,
    STATUSES,
    TRANSITIONS,
    ImageAttributeLocked,
    ImageError,
    ImageFormatError,
    ImageFormatsRequired,
    InvalidImageTransition,
    begin_upload,
    can_transition,
    check_formats_mutable,
    check_transition,
    deactivate,
    reactivate,
    require_formats,
    validate_formats,
)
from stratus.image.inspect import (
    ImageContentError,
    ImageInfo,
    ImageVerifier,
    detect_format,
    inspect_image,
)
from stratus.image.store import (
    FileStore,
    ImageChunks,
    ImageDataNotFound,
    ImageSizeLimitExceeded,
    ImageStoreError,
    ImageStoreFull,
    StoreResult,
)

__all__ = [
    "AMAZON_FORMATS",
    "CONTAINER_FORMATS",
    "DISK_FORMATS",
    "STATUSES",
    "TRANSITIONS",
    "FileStore",
    "ImageAttributeLocked",
    "ImageChunks",
    "ImageContentError",
    "ImageDataNotFound",
    "ImageError",
    "ImageFormatError",
    "ImageFormatsRequired",
    "ImageInfo",
    "ImageSizeLimitExceeded",
    "ImageStoreError",
    "ImageStoreFull",
    "ImageVerifier",
    "InvalidImageTransition",
    "StoreResult",
    "begin_upload",
    "can_transition",
    "check_formats_mutable",
    "check_transition",
    "deactivate",
    "detect_format",
    "inspect_image",
    "reactivate",
    "require_formats",
    "validate_formats",
]
