#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine: system packages (JACK dummy audio graph, PortAudio,
# DPF for the VST3 test fixtures), CPU PyTorch, and the project (editable) with every extra.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

# --- system packages (add a package a feature or benchmark needs to this list) ---
APT_PACKAGES=(jackd2 libportaudio2 libsndfile1 dpf-source build-essential pkg-config
              fluidsynth timgm6mb-soundfont)  # fluidsynth: `data drums` renders soundfont kits
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  need=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi

# --- Python: the CPU build of torch first (a plain `pip install torch` on Linux pulls a multi-GB
# CUDA build), a setuptools that builds the wheel without isolation (tests/test_packaging.py) ---
python3 -m pip install -q --upgrade pip "setuptools>=77" wheel
python3 -c "import torch" 2>/dev/null \
  || python3 -m pip install -q "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
python3 -m pip install -q -e ".[test]"
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi   # put `scrapl-live` on PATH

# --- data: Debian's Hydrogen drum kits -> data/hydrogen (gitignored; apt-get download + dpkg -x, no
# root install), for the fine-tune test and benchmarks; without them those tests skip, saying why ---
hydrogen() { python3 -c 'from scrapl_live.cli import main; raise SystemExit(main(["data", "hydrogen", "data/hydrogen"]))'; }
if [ ! -f data/hydrogen/manifest.json ] && command -v apt-get >/dev/null 2>&1; then
  hydrogen || { $SUDO apt-get update -qq && hydrogen; } \
    || echo "warning: could not fetch the Hydrogen drum kits (apt-get download hydrogen-drumkits)"
fi
echo "scrapl-live installed: $(python3 -c 'import scrapl_live; print(scrapl_live.__version__)')"
