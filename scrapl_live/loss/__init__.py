"""Losses: SCRAPLLoss (scrapl-loss 0.1.0 compatible), its path sampler, path-wise gradient transforms,
θ-IS warm-up and the paper's baseline losses."""

from scrapl_live.loss.baselines import JTFSLoss, ParamLoss, make_loss
from scrapl_live.loss.mss import LogMSSLoss, MultiResolutionSTFTLoss, RandomResolutionSTFTLoss
from scrapl_live.loss.pathwise import PathwiseGradTransform
from scrapl_live.loss.sampler import PathSampler
from scrapl_live.loss.scrapl import SCRAPLLoss
from scrapl_live.loss.warmup import load_probs_from_warmup_dir, warmup_lc_hvp

__all__ = [
    "JTFSLoss",
    "LogMSSLoss",
    "MultiResolutionSTFTLoss",
    "ParamLoss",
    "PathSampler",
    "PathwiseGradTransform",
    "RandomResolutionSTFTLoss",
    "SCRAPLLoss",
    "load_probs_from_warmup_dir",
    "make_loss",
    "warmup_lc_hvp",
]
