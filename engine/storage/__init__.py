"""Where media files end up: local disk or S3, behind one small contract."""

from pathlib import Path

from engine.config import Config
from engine.storage.base import TEMP_SUFFIX, Storage, StoredFile
from engine.storage.local import LocalStorage
from engine.storage.s3 import S3Storage


def make_storage(cfg: Config) -> Storage:
    if cfg.storage == "s3":
        return S3Storage(bucket=cfg.s3_bucket or "", region=cfg.s3_region, endpoint_url=cfg.s3_endpoint_url,
                         temp_root=Path(cfg.data_dir) / "tmp")
    return LocalStorage(cfg.data_dir)


__all__ = ["TEMP_SUFFIX", "LocalStorage", "S3Storage", "Storage", "StoredFile", "make_storage"]
