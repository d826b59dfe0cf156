"""The media pipeline: fresh URLs, streamed and verified downloads, atomic storage."""

from engine.media.download import Pipeline, run_download
from engine.media.limits import SIZE_LIMITS, contradicts, sniff
from engine.media.reconcile import remove_stale_temp_files, unfinished_media

__all__ = ["SIZE_LIMITS", "Pipeline", "contradicts", "remove_stale_temp_files", "run_download", "sniff",
           "unfinished_media"]
