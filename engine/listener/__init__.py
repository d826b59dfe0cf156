"""The webhook listener: verify handshake, signed POSTs, /healthz."""

from engine.listener.app import WebhookApp
from engine.listener.server import ListenerThread
from engine.listener.writer import GroupCommitWriter

__all__ = ["GroupCommitWriter", "ListenerThread", "WebhookApp"]
