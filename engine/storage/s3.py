"""S3 storage through boto3: ContentType and a year-long CacheControl, errors translated."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from urllib.parse import quote

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
                 temp_root: Path, access_key_id: str | None = None, secret_access_key: str | None = None) -> None:
        self.bucket = bucket
        self.temp_root = Path(temp_root)
        self.client = boto3.client(
            "s3", region_name=region, endpoint_url=endpoint_url,
            # Keys from Settings (the keyring); without them boto3's own chain (environment, ~/.aws, a role).
            aws_access_key_id=access_key_id or None, aws_secret_access_key=secret_access_key or None,
            # SigV4 everywhere: presigned links (media_link) then expire as asked, within S3's 7-day cap.
            config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60,
                              signature_version="s3v4"),
        )

    def temp_dir(self, key: str) -> Path:
        self.temp_root.mkdir(parents=True, exist_ok=True)
        return self.temp_root

    def store(self, temp_file: Path, key: str, *, content_type: str,
              metadata: dict[str, str] | None = None) -> StoredFile:
        extra: dict[str, object] = {"ContentType": content_type, "CacheControl": CACHE_CONTROL}
        if metadata:
            extra["Metadata"] = metadata
        try:
            self.client.upload_file(str(temp_file), self.bucket, key, ExtraArgs=extra)
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

    # -- the media library (engine.storage.dedupe, engine.media.verify, engine.export)
    def store_shared(self, temp_file: Path, key: str, *, sha256: str, content_type: str) -> StoredFile:
        """Upload to the content-addressed `key` unless a whole copy of these bytes is there already."""
        size = Path(temp_file).stat().st_size
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            # Our digest travels with the object: one replaced by anyone else (no digest, or another) is
            # not trusted as the copy, and is replaced by these verified bytes.
            same = head.get("ContentLength") == size and head.get("Metadata", {}).get("sha256") == sha256
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise StorageError(f"S3 could not check {key}: {exc}") from exc
            same = False
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"S3 could not check {key}: {exc}") from exc
        if same:
            Path(temp_file).unlink(missing_ok=True)
            return StoredFile(path=key, location=self.location)
        return self.store(temp_file, key, content_type=content_type, metadata={"sha256": sha256})

    def sha256_of(self, path: str) -> str:
        """The stored object's digest, read through in chunks (memory stays flat)."""
        h = hashlib.sha256()
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=path)["Body"]
            for chunk in body.iter_chunks(1024 * 1024):
                h.update(chunk)
        except _BOTO_ERRORS as exc:
            raise StorageError(f"could not read {path} from S3: {exc}") from exc
        return h.hexdigest()

    def download_to(self, path: str, dest: Path) -> None:
        try:
            self.client.download_file(self.bucket, path, str(dest))
        except _BOTO_ERRORS as exc:
            raise StorageError(f"could not read {path} from S3: {exc}") from exc

    def delete(self, path: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=path)
        except _BOTO_ERRORS as exc:
            raise StorageError(f"could not remove {path} from S3: {exc}") from exc

    def presigned_url(self, path: str, *, expires_in: int, filename: str | None = None) -> str:
        """A link anyone can open until it expires (`expires_in` seconds, at most 7 days for S3)."""
        params: dict[str, str] = {"Bucket": self.bucket, "Key": path}
        if filename:
            # Shared objects are named by their digest: the link downloads under this row's own name.
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        try:
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        except _BOTO_ERRORS as exc:
            raise StorageError(f"could not sign a link for {path}: {exc}") from exc

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
