"""Webhook ingest: parse Meta's bodies, store them idempotently, hand new media to the pipeline."""

from engine.ingest.filenames import sanitize_filename
from engine.ingest.parse import MessageRecord, ParsedWebhook, StatusRecord, parse_webhook
from engine.ingest.store import IngestResult, WebhookStore

__all__ = [
    "IngestResult",
    "MessageRecord",
    "ParsedWebhook",
    "StatusRecord",
    "WebhookStore",
    "parse_webhook",
    "sanitize_filename",
]
