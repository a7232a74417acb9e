"""Encoder presets per synth (the paper's) and the serialisable :class:`EncoderConfig`.

CQT presets: texture/chirplet (sr 8192, J_cqt 5, Q 12 → 60 bins, fmin 0.4·sr/2^5 = 102.4 Hz, hop 256)
and tr808 (sr 44100, J_cqt 9, Q 12 → 108 bins, fmin 0.4·sr/2^9 ≈ 34.45 Hz, hop 256), ρ = log1p(·/1e-3).
Sizes: ``paper`` = 128 channels and the paper's latent/dropout (604,106 / 724,642 weights);
``live`` = 48 channels, latent 64 (≤ 150k weights) for CPU training and sub-millisecond inference.
The analysis window W (samples after an onset) caps the CQT kernel length, see :mod:`.frontend`.
A multi-window encoder (``windows`` = several lengths) takes any length from ``windows[0]`` to
``windows[-1]`` (= W) through one network: CQT kernels capped at the synth's default window, zero
padding (silence before the onset, nothing known after the window) and ceil-mode pools.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scrapl_live.encoder.card import takes_length
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
        """Lowest bin ``0.4·sr/2^J`` (the paper's choice)."""
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
    windows: tuple[int, ...] = ()  # ascending input lengths; () = (window,), a single-window encoder

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(int(w) for w in self.windows) or (self.window,))
        if list(self.windows) != sorted(set(self.windows)) or self.windows[-1] != self.window:
            raise ValueError(
                f"windows must ascend strictly and end at window={self.window}, got {self.windows}"
            )
        if self.multi_window and (self.cqt.pad_mode != "constant" or not self.cnn.ceil_mode):
            raise ValueError("a multi-window encoder needs pad_mode='constant' and ceil-mode pools")
        if len(self.param_names) != self.cnn.n_outputs:
            raise ValueError(
                f"param_names has {len(self.param_names)} names but the CNN has {self.cnn.n_outputs} heads"
            )
        if not self.multi_window and self.window < 2 * self.cqt.hop:
            raise ValueError(f"window must be >= 2·hop = {2 * self.cqt.hop} samples, got {self.window}")

    @property
    def sample_rate(self) -> int:
        return self.cqt.sample_rate

    @property
    def n_frames(self) -> int:
        return self.cqt.n_frames(self.window)

    @property
    def multi_window(self) -> bool:
        """True when the network takes any length in ``[windows[0], windows[-1]]``."""
        return len(self.windows) > 1

    def accepts(self, n_samples: int) -> bool:
        """Whether an input of ``n_samples`` samples is one this encoder was built for."""
        return takes_length(self.windows, self.multi_window, n_samples)

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
                windows=tuple(int(w) for w in d.get("windows", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"encoder_config is incomplete or malformed: {exc!r}") from exc


def synth_param_names(synth: str) -> tuple[str, ...]:
    """Parameter names of a registered synth (``synths.get(name).params``), in θ order."""
    import synths

    return tuple(p.name for p in synths.get(synth).params)


MIN_WINDOW = 64  # shortest input of a multi-window encoder (samples)


def encoder_config(
    synth: str,
    size: str = "live",
    window: int | None = None,
    param_names: tuple[str, ...] | None = None,
    windows: tuple[int, ...] | None = None,
) -> EncoderConfig:
    """Preset config for ``synth`` ('granular', 'chirplet', 'tr808') at ``size`` ('paper' | 'live').

    window: analysis window W in samples (default: tr808 2048 ≈ 46 ms, textures the full 32768);
    CQT kernels are capped at W.  param_names: θ names (default: from the synth registry).
    windows: several ascending lengths (≥ 64 samples) for one multi-window network (W = the last;
    ``window`` must then be None or equal to it); kernels are capped at the preset's default window.
    """
    if synth not in PRESETS:
        raise ValueError(f"synth must be one of {sorted(PRESETS)}, got {synth!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    p = PRESETS[synth]
    multi = windows is not None and len(windows) > 1
    if multi:
        windows = tuple(int(w) for w in windows)
        if window is not None and int(window) != windows[-1]:
            raise ValueError(f"window={window} must equal the last of windows={windows} (or be None)")
        if windows[0] < MIN_WINDOW or windows[-1] > p.n_samples:
            raise ValueError(f"windows must lie in [{MIN_WINDOW}, {p.n_samples}] samples, got {windows}")
        window = windows[-1]
    elif windows:
        window = int(windows[0]) if window is None else int(window)
    window = p.default_window if window is None else int(window)
    if not multi and not 2 * p.hop <= window <= p.n_samples:
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
        max_kernel=min(window, p.default_window) if multi else window,
        pad_mode="constant" if multi else "reflect",
    )
    channels, latent = (PAPER_CHANNELS, p.latent) if size == "paper" else (LIVE_CHANNELS, LIVE_LATENT)
    cnn = CNNConfig(channels, p.pools, latent, p.dropout, p.n_params, ceil_mode=multi)
    return EncoderConfig(
        synth=synth, size=size, window=window, param_names=names, cqt=cqt, cnn=cnn,
        windows=windows if multi else (),
    )
