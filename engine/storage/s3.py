"""S3 storage through boto3: ContentType and a year-long CacheControl, errors translated."""

from __future__ import annotations

import tempfile
from pathlib import Path

import boto3
import boto3.exceptions
import botocore.exceptions
from botocore.config import Config as BotoConfig

from engine.errors import StorageError
from engine.storage.base import StoredFile

CACHE_CONTROL = "max-age=31536000"
# upload_file wraps a refused PUT in boto3's own S3UploadFailedError (a Boto3Error), not a botocore error.
_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, boto3.exceptions.Boto3Error)


class S3Storage:
    location = "amazon"

    def __init__(self, *, bucket: str, region: str | None = None, endpoint_url: str | None = None,
                 temp_root: Path) -> None:
        self.bucket = bucket
        self.temp_root = Path(temp_root)
        self.client = boto3.client(
            "s3", region_name=region, endpoint_url=endpoint_url,
            config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60),
        )

    def temp_dir(self, key: str) -> Path:
        self.temp_root.mkdir(parents=True, exist_ok=True)
        return self.temp_root

    def store(self, temp_file: Path, key: str, *, content_type: str) -> StoredFile:
        try:
            self.client.upload_file(
                str(temp_file), self.bucket, key,
                ExtraArgs={"ContentType": content_type, "CacheControl": CACHE_CONTROL},
            )
        except _BOTO_ERRORS as exc:
            raise StorageError(f"S3 refused {key}: {exc}") from exc
        finally:
            Path(temp_file).unlink(missing_ok=True)
        return StoredFile(path=key, location=self.location)

    def exists(self, path: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=path)
            return True
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"S3 could not check {path}: {exc}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"S3 could not check {path}: {exc}") from exc

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=path)["Body"].read()
        except _BOTO_ERRORS as exc:
            raise StorageError(f"could not read {path} from S3: {exc}") from exc

    def local_path(self, path: str) -> Path | None:
        return None

    def test_connection(self) -> str:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            with tempfile.NamedTemporaryFile() as fh:
                fh.write(b"mediadesk connection test")
                fh.flush()
                key = ".mediadesk-connection-test"
                self.client.upload_file(fh.name, self.bucket, key)
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except _BOTO_ERRORS as exc:
            raise StorageError(f"S3 bucket {self.bucket} is not usable: {exc}") from exc
        return f"S3 bucket {self.bucket} is reachable and writable"
