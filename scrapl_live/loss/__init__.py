"""Losses: SCRAPLLoss (scrapl-loss 0.1.0 compatible) and its path-wise gradient transforms."""

from scrapl_live.loss.pathwise import PathwiseGradTransform
from scrapl_live.loss.scrapl import SCRAPLLoss

__all__ = ["PathwiseGradTransform", "SCRAPLLoss"]
