"""The webhook listener: verify handshake, signed POSTs, /healthz."""

from engine.listener.app import WebhookApp
from engine.listener.server import ListenerThread
from engine.listener.writer import GroupCommitWriter
from engine.listener.writer_for import writer_for

__all__ = ["GroupCommitWriter", "ListenerThread", "WebhookApp", "writer_for"]
