"""Where media files end up: local disk or S3, behind one small contract."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import Config
from engine.storage.base import TEMP_SUFFIX, Storage, StoredFile
from engine.storage.local import LocalStorage

if TYPE_CHECKING:
    from engine.storage.s3 import S3Storage


def make_storage(cfg: Config) -> Storage:
    if cfg.storage == "s3":
        from engine.storage.s3 import S3Storage  # boto3 takes a while to import: only when S3 is used

        return S3Storage(bucket=cfg.s3_bucket or "", region=cfg.s3_region, endpoint_url=cfg.s3_endpoint_url,
                         temp_root=Path(cfg.data_dir) / "tmp", access_key_id=cfg.s3_access_key_id,
                         secret_access_key=cfg.s3_secret_access_key)
    return LocalStorage(cfg.data_dir)


def __getattr__(name: str):
    if name == "S3Storage":
        from engine.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(name)


__all__ = ["TEMP_SUFFIX", "LocalStorage", "S3Storage", "Storage", "StoredFile", "make_storage"]
