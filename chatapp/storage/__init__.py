"""Pluggable media storage: local disk (embedded default) or Cloudinary (production).

Chosen once from settings by :func:`get_storage`. Nothing here decides who may see a file:
the ``/media/...`` route authorises first, then asks the storage to serve or sign it.
"""

from chatapp.storage.base import MediaStorage, StoredObject, get_storage

__all__ = ["MediaStorage", "StoredObject", "get_storage"]
