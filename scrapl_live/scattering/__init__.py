"""Joint time-frequency scattering (JTFS) with per-path access for the SCRAPL loss."""

from .config import JTFSSettings
from .jtfs import JTFS, PathInfo
from .transform import Scalogram

__all__ = ["JTFS", "JTFSSettings", "PathInfo", "Scalogram"]
