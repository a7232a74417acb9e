"""Encoder presets per synth (REFERENCE §5) and the serialisable :class:`EncoderConfig`.

CQT presets: texture/chirplet (sr 8192, J_cqt 5, Q 12 → 60 bins, fmin 0.4·sr/2^5 = 102.4 Hz, hop 256)
and tr808 (sr 44100, J_cqt 9, Q 12 → 108 bins, fmin 0.4·sr/2^9 ≈ 34.45 Hz, hop 256), ρ = log1p(·/1e-3).
Sizes: ``paper`` = 128 channels and the paper's latent/dropout (604,106 / 724,642 weights);
``live`` = 48 channels, latent 64 (≤ 150k weights) for CPU training and sub-millisecond inference.
The analysis window W (samples after an onset) caps the CQT kernel length, see :mod:`.frontend`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scrapl_live.encoder.cnn import CNNConfig
from scrapl_live.encoder.frontend import CQTConfig


@dataclass(frozen=True)
class SynthPreset:
    """Per-synth encoder facts: CQT grid (J octaves × Q bins), paper CNN head, windows."""

    sample_rate: int
    n_octaves: int
    bins_per_octave: int
    hop: int
    pools: tuple[tuple[int, int], ...]
    latent: int
    dropout: float
    n_params: int
    n_samples: int
    default_window: int

    @property
    def fmin(self) -> float:
        """Lowest bin ``0.4·sr/2^J`` (REFERENCE §5)."""
        return 0.4 * self.sample_rate / 2**self.n_octaves


_TEXTURE = dict(
    sample_rate=8192,
    n_octaves=5,
    bins_per_octave=12,
    hop=256,
    pools=((2, 2),) * 5,
    latent=64,
    dropout=0.5,
    n_params=2,
    n_samples=32768,
    default_window=32768,
)
PRESETS: dict[str, SynthPreset] = {
    "granular": SynthPreset(**_TEXTURE),
    "chirplet": SynthPreset(**_TEXTURE),
    "tr808": SynthPreset(
        sample_rate=44100,
        n_octaves=9,
        bins_per_octave=12,
        hop=256,
        pools=((2, 2), (2, 2), (2, 3), (3, 3), (3, 3)),
        latent=128,
        dropout=0.25,
        n_params=14,
        n_samples=44100,
        default_window=2048,
    ),
}
SIZES = ("paper", "live")
LIVE_CHANNELS = 48
LIVE_LATENT = 64
PAPER_CHANNELS = 128


@dataclass(frozen=True)
class EncoderConfig:
    """Everything needed to rebuild an :class:`~scrapl_live.encoder.encoder.Encoder` (stored in cards)."""

    synth: str
    size: str
    window: int
    param_names: tuple[str, ...]
    cqt: CQTConfig
    cnn: CNNConfig

    def __post_init__(self) -> None:
        if len(self.param_names) != self.cnn.n_outputs:
            raise ValueError(
                f"param_names has {len(self.param_names)} names but the CNN has {self.cnn.n_outputs} heads"
            )
        if self.window < 2 * self.cqt.hop:
            raise ValueError(f"window must be >= 2·hop = {2 * self.cqt.hop} samples, got {self.window}")

    @property
    def sample_rate(self) -> int:
        return self.cqt.sample_rate

    @property
    def n_frames(self) -> int:
        return self.cqt.n_frames(self.window)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        """Inverse of :meth:`to_dict`; ValueError naming the field when something is missing or wrong."""
        try:
            cnn = dict(d["cnn"])
            cnn["pools"] = tuple(tuple(int(v) for v in p) for p in cnn["pools"])
            return cls(
                synth=str(d["synth"]),
                size=str(d["size"]),
                window=int(d["window"]),
                param_names=tuple(str(n) for n in d["param_names"]),
                cqt=CQTConfig(**d["cqt"]),
                cnn=CNNConfig(**cnn),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"encoder_config is incomplete or malformed: {exc!r}") from exc


def synth_param_names(synth: str) -> tuple[str, ...]:
    """Parameter names of a registered synth (``synths.get(name).params``), in θ order."""
    import synths

    return tuple(p.name for p in synths.get(synth).params)


def encoder_config(
    synth: str, size: str = "live", window: int | None = None, param_names: tuple[str, ...] | None = None
) -> EncoderConfig:
    """Preset config for ``synth`` ('granular', 'chirplet', 'tr808') at ``size`` ('paper' | 'live').

    window: analysis window W in samples (default: tr808 2048 ≈ 46 ms, textures the full 32768);
    CQT kernels are capped at W.  param_names: θ names (default: from the synth registry).
    """
    if synth not in PRESETS:
        raise ValueError(f"synth must be one of {sorted(PRESETS)}, got {synth!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    p = PRESETS[synth]
    window = p.default_window if window is None else int(window)
    if not 2 * p.hop <= window <= p.n_samples:
        raise ValueError(f"window must be in [{2 * p.hop}, {p.n_samples}] samples for {synth}, got {window}")
    names = synth_param_names(synth) if param_names is None else tuple(param_names)
    if len(names) != p.n_params:
        raise ValueError(f"param_names must have {p.n_params} entries for {synth}, got {len(names)}")
    cqt = CQTConfig(
        sample_rate=p.sample_rate,
        fmin=p.fmin,
        n_bins=p.n_octaves * p.bins_per_octave,
        bins_per_octave=p.bins_per_octave,
        hop=p.hop,
        max_kernel=window,
        pad_mode="reflect",
    )
    if size == "paper":
        cnn = CNNConfig(PAPER_CHANNELS, p.pools, p.latent, p.dropout, p.n_params)
    else:
        cnn = CNNConfig(LIVE_CHANNELS, p.pools, LIVE_LATENT, p.dropout, p.n_params)
    return EncoderConfig(synth=synth, size=size, window=window, param_names=names, cqt=cqt, cnn=cnn)
