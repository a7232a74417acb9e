"""Fine-tuning on the user's own sounds: the crash-safe capture store and capture from files."""

from scrapl_live.finetune.capture import capture_files
from scrapl_live.finetune.live_capture import BackgroundCapture
from scrapl_live.finetune.store import CaptureSample, CaptureStore, StoreStats

__all__ = ["BackgroundCapture", "CaptureSample", "CaptureStore", "StoreStats", "capture_files"]
