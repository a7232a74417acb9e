"""The background fine-tune loop: SCRAPL + P-Adam/P-SAGA on the user's own sounds, hot-swappable exports.

Start weights come from the last checkpoint of ``out_dir`` (resume) or else from ``model``: an ONNX
encoder (weights read back with ``onnx_to_torch``) or a ``.pt`` checkpoint. Each step renders
x̂ = synth(encoder(x), seed) for a batch of the user's training samples and minimises the SCRAPL
distance to x; the gradients are rewritten optimizer-side by P-Adam/P-SAGA, then SGD steps (loss and
optimiser built by the trainer's ``make_objective``, the θ-IS warm-up by its ``theta_is_warmup``). Every
random choice of step s is a function of (seed, s), so a resumed run continues exactly.

A multi-window encoder (card ``windows``) is trained as ``scrapl-live train --windows`` does: step s
feeds the first ``draw_window(windows, seed, s)`` samples, so every length the engine plays keeps
being trained; a single-window encoder always sees its window.

Targets shorter than the synth's output are compared over their captured span: x̂ is zeroed after it.
Held-out metric: the SCRAPL loss in eval mode, i.e. the mean JTFS distance over a fixed, evenly spread
set of ``eval_paths`` scattering paths (the full JTFS over all P = 483 tr808 paths costs minutes per
sample on a loaded CPU), x̂ with seed = item position, averaged over the scored windows
(:func:`~scrapl_live.finetune.holdout.scored_windows`: W₀ and the longest). When the mean beats the
best so far and W₀ got no worse, the encoder is exported (ONNX + card, which keeps the
``windows``) to temp files in ``out_dir`` and renamed to ``model.onnx`` / ``model.json`` (card first,
then the ONNX file, whose change the engine's file watch reacts to).

Checkpoints (``ckpt/last.pt``, the one before kept as ``ckpt/prev.pt``) hold everything needed for an
exact resume: weights, optimiser, SCRAPL state (sampler, θ-IS probabilities, path tables), RNG, step,
metric history and the best record. ``status.json`` is rewritten atomically after every step.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch

from scrapl_live.allocator import tune_allocator
from scrapl_live.finetune.config import TABLE_DTYPES, FinetuneConfig, yield_cpu
from scrapl_live.finetune.holdout import UserData, read_user_data, scored_windows, span_mask
from scrapl_live.finetune.persist import (
    load_last_checkpoint,
    load_start_encoder,
    save_checkpoint_durable,
    write_json_atomic,
)
from scrapl_live.train import checkpoint as ckpt_io
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.data import BatchStream, draw_window, mix_seed

log = logging.getLogger(__name__)

class FinetuneWorker:
    """One fine-tune run; :meth:`run` trains until ``max_steps`` or :meth:`request_stop` (SIGTERM/SIGINT)."""

    def __init__(self, cfg: FinetuneConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir = self.out / "ckpt"
        cuda = cfg.uses_cuda()
        self.device = torch.device("cuda" if cuda else "cpu")
        if not cuda:
            yield_cpu(cfg.nice, cfg.threads)  # before any torch work: threads torch starts inherit it
        ckpt = load_last_checkpoint(self.ckpt_dir)
        from scrapl_live.encoder.encoder import Encoder
        from scrapl_live.encoder.presets import EncoderConfig

        if ckpt is not None:
            self.encoder = Encoder(EncoderConfig.from_dict(ckpt["encoder_config"]))
            self.base_card = ckpt["card"]
        else:
            self.encoder, self.base_card = load_start_encoder(cfg.model)
        self.encoder.to(self.device)
        self.synth_name = self.encoder.config.synth
        self.train_cfg = TrainConfig(synth=self.synth_name, loss="scrapl", seed=cfg.seed, lr=cfg.lr,
                                     batch_size=cfg.batch_size, p_adam=cfg.p_adam, p_saga=cfg.p_saga,
                                     paths_per_step=cfg.paths_per_step, eval_paths=cfg.eval_paths,
                                     theta_is=cfg.theta_is, theta_is_iters=cfg.theta_is_iters)
        import synths

        self.synth = synths.get(self.synth_name, **self.train_cfg.synth_options).to(self.device)
        from scrapl_live.train.losses import make_objective

        self.loss, self.opt = make_objective(self.train_cfg, self.synth, self.encoder.parameters(),
                                             self.device, table_dtype=TABLE_DTYPES[cfg.table_dtype])
        self.step, self.history, self.best = 0, [], None
        self.exports, self.started = 0, time.time()
        self._stop = False
        self.last_loss: float | None = None
        self.steps_per_min: float | None = None
        if ckpt is not None:
            self._load(ckpt)
        self.data: UserData | None = None

    # State ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Checkpoint dict: the trainer's keys (``scrapl_live.train.checkpoint``) plus the fine-tune ones."""
        from scrapl_live.encoder.encoder import encoder_checkpoint

        return {**encoder_checkpoint(self.encoder, self.base_card), "train_config": self.train_cfg.to_dict(),
                "finetune_config": dataclasses.asdict(self.cfg), "step": self.step,
                "optimizer": self.opt.state_dict(), "loss_state": self.loss.state_dict(),
                "rng": ckpt_io.rng_state(), "history": self.history, "best": self.best,
                "exports": self.exports}

    def _load(self, ckpt: dict[str, Any]) -> None:
        self.encoder.load_state_dict(ckpt["encoder_state"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.loss.load_state_dict(ckpt["loss_state"])
        ckpt_io.set_rng_state(ckpt["rng"])
        self.step, self.history, self.best = int(ckpt["step"]), list(ckpt["history"]), ckpt["best"]
        self.exports = int(ckpt.get("exports", 0))
        log.info("fine-tune resumed at step %d from %s", self.step, self.ckpt_dir)

    def request_stop(self, *_: object) -> None:
        """Finish the current step, checkpoint and return from :meth:`run` (also the SIGTERM handler)."""
        self._stop = True

    # Steps ---------------------------------------------------------------------------------------
    def train_step(self, step: int) -> float:
        """One SCRAPL + P-Adam/P-SAGA step on the batch of ``step``; returns the loss."""
        data = self.data
        stream = BatchStream(len(data.train), min(self.cfg.batch_size, len(data.train)), self.cfg.seed)
        idx = stream.indices(step)
        x = data.train[idx].to(self.device)
        mask = span_mask(data.train_len[idx], x.shape[-1]).to(self.device)
        gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, step, 1))
        seed_hat = torch.randint(0, 2**31 - 1, (x.shape[0],), generator=gen)
        torch.manual_seed(mix_seed(self.cfg.seed, step, 2))  # dropout masks
        self.encoder.train()
        self.loss.train()
        self.opt.zero_grad(set_to_none=True)
        x_in = x[..., : draw_window(self.encoder.config.windows, self.cfg.seed, step)]
        x_hat = self.synth(self.encoder(x_in), seed_hat) * mask
        value = self.loss(x_hat, x)
        value.backward()
        if self.train_cfg.pathwise:
            self.loss.transform_grads()
        self.opt.step()
        return float(value.detach())

    @torch.no_grad()
    def heldout_distances(self, encoder_state: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
        """Mean SCRAPL eval-mode distance (fixed ``eval_paths``) on the held-out samples, by scored window
        (keys: the window in samples, as a string)."""
        enc = self.encoder
        if encoder_state is not None:
            enc = type(self.encoder)(self.encoder.config).to(self.device)
            enc.load_state_dict(encoder_state)
        enc.eval()
        self.loss.eval()
        x = self.data.heldout.to(self.device)
        mask = span_mask(self.data.heldout_len, x.shape[-1]).to(self.device)
        windows = scored_windows(enc.config.windows)
        total = dict.fromkeys(windows, 0.0)
        for i in range(0, x.shape[0], self.cfg.batch_size):
            xb = x[i : i + self.cfg.batch_size]
            seeds = torch.arange(i, i + xb.shape[0])
            for w in windows:
                x_hat = self.synth(enc(xb[..., :w]), seeds) * mask[i : i + xb.shape[0]]
                total[w] += float(self.loss(x_hat, xb)) * xb.shape[0]
        return {str(w): v / x.shape[0] for w, v in total.items()}

    def _theta_is(self) -> None:
        """θ-IS warm-up (the trainer's function) on up to ``batch_size`` training samples."""
        from scrapl_live.train.warmups import theta_is_warmup

        x = self.data.train[: self.cfg.batch_size].to(self.device)
        seed_hat = torch.arange(x.shape[0])
        theta_is_warmup(self.loss, self.encoder, self.encoder.config.window,
                        synth_fn=lambda theta: self.synth(theta, seed_hat[: theta.shape[0]]), batches=[x],
                        save_dir=self.out / "theta_is", n_iter=self.cfg.theta_is_iters, seed=self.cfg.seed)

    # Evaluation and export -------------------------------------------------------------------------
    def evaluate(self) -> dict[str, Any]:
        """Held-out metric now; export when it beats the best on the same held-out set. Returns the record."""
        key = self.data.heldout_key
        best = self.best
        # new held-out samples (or a best recorded before the metric went by window): re-baseline
        if best is not None and (best["heldout_key"] != key or "heldout_by_window" not in best):
            by_window = self.heldout_distances(best["encoder_state"])
            self.best = dict(best, heldout_key=key, heldout_by_window=by_window,
                             heldout_distance=sum(by_window.values()) / len(by_window))
        by_window = self.heldout_distances()
        value = sum(by_window.values()) / len(by_window)
        rec = {"step": self.step, "heldout_distance": value, "heldout_by_window": by_window,
               "n_train": len(self.data.train), "n_heldout": len(self.data.heldout), "time": time.time(),
               "exported": False}
        if self.best is None:  # the start model: the reference to beat; nothing to export
            self.best = self._best_record(value, by_window, key)
        elif self._improves(value, by_window):
            self._export(value, by_window)
            rec["exported"] = True
            self.best = self._best_record(value, by_window, key)
        self.history.append(rec)
        log.info("fine-tune step %d: held-out distance %.5g%s", self.step, value,
                 " (exported)" if rec["exported"] else "")
        return rec

    def _improves(self, value: float, by_window: dict[str, float]) -> bool:
        """A lower mean than the best, and W₀ (the first, shortest scored window) no worse than the best's:
        the first prediction of a hit never regresses for the sake of the later ones."""
        first = next(iter(by_window))
        return (math.isfinite(value) and value < self.best["heldout_distance"]
                and by_window[first] <= self.best["heldout_by_window"][first])

    def _best_record(self, value: float, by_window: dict[str, float], key: str) -> dict[str, Any]:
        """The best record: its step, metrics, held-out set and a copy of the weights (re-baselining)."""
        weights = {k: v.detach().cpu().clone() for k, v in self.encoder.state_dict().items()}
        return {"step": self.step, "heldout_distance": value, "heldout_by_window": by_window,
                "heldout_key": key, "encoder_state": weights}

    def _export(self, value: float, by_window: dict[str, float]) -> None:
        """ONNX + card to temp names in ``out_dir``, then renamed over model.json and model.onnx."""
        from scrapl_live.encoder.card import card_path
        from scrapl_live.encoder.export import export_onnx

        self.encoder.eval()
        tmp = self.out / f".export-{os.getpid()}.onnx"
        keep = {k: v for k, v in self.base_card.items() if k in ("training", "training_data", "metrics")}
        if self.base_card.get("classifier"):  # the drum-class head stays beside the start model
            keep["classifier"] = str((Path(self.cfg.model).parent / self.base_card["classifier"]).resolve())
        metric = (f"SCRAPL eval, {self.cfg.eval_paths} fixed JTFS paths, "
                  f"mean over windows {', '.join(by_window)}")
        card = {**keep, "finetune": {"base_model": str(self.cfg.model), "store": str(self.cfg.store),
                                     "step": self.step, "heldout_distance": value,
                                     "heldout_by_window": by_window, "heldout_metric": metric,
                                     "n_train": len(self.data.train), "n_heldout": len(self.data.heldout)}}
        full = export_onnx(self.encoder, tmp, card)  # card windows/any_window: the encoder's
        final = self.out / "model.onnx"
        full["onnx"]["file"] = final.name
        write_json_atomic(card_path(tmp), full)
        os.replace(card_path(tmp), card_path(final))
        os.replace(tmp, final)
        self.exports += 1

    # Loop ----------------------------------------------------------------------------------------
    def run(self) -> int:
        """Train until ``max_steps`` or a stop request (SIGTERM/SIGINT, main thread); returns the step."""
        in_main = threading.current_thread() is threading.main_thread()
        sigs = (signal.SIGTERM, signal.SIGINT) if in_main else ()
        old = {sig: signal.signal(sig, self.request_stop) for sig in sigs}
        try:
            return self._loop()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def _loop(self) -> int:
        from scrapl_live.finetune.status import write_status

        cfg = self.cfg
        t0, s0 = time.perf_counter(), self.step
        while not self._stop and (cfg.max_steps is None or self.step < cfg.max_steps):
            if self.data is None or self.step % cfg.rescan_every == 0:
                self.data = read_user_data(cfg.store, self.synth.sample_rate, self.synth.n_samples,
                                           cfg.holdout_frac)
            if len(self.data.train) + len(self.data.heldout) < cfg.min_samples:
                write_status(self, "waiting")
                self.data = None
                time.sleep(2.0)
                continue
            if self.best is None:
                if cfg.theta_is:
                    self._theta_is()
                self.evaluate()
            value = self.train_step(self.step)
            if not math.isfinite(value):
                raise RuntimeError(f"fine-tune loss is {value} at step {self.step}")
            self.step += 1
            self.last_loss, self.steps_per_min = value, 60 * (self.step - s0) / (time.perf_counter() - t0)
            if self.step % cfg.eval_every == 0:
                self.evaluate()
            if self.step % cfg.eval_every == 0 or self.step % cfg.ckpt_every == 0:
                save_checkpoint_durable(self.ckpt_dir, self.state())
            write_status(self, "training")
        save_checkpoint_durable(self.ckpt_dir, self.state())
        write_status(self, "stopped")
        return self.step


def run_worker(cfg: dict[str, Any]) -> None:
    """Process entry point (``multiprocessing`` spawn target): a worker from a config dict, run."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s finetune[%(process)d] %(levelname)s %(message)s")
    tune_allocator()  # a fresh (spawned) process: reuse heap pages between fine-tune steps
    FinetuneWorker(FinetuneConfig(**cfg)).run()  # its constructor yields the CPU before any torch work
