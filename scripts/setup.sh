#!/usr/bin/env bash
# Installs what Tessera needs from the system's packages when it is missing:
# OpenBLAS (cblas), Open MPI (library, headers and mpirun) and pkg-config; with --browser (what
# `make test` asks for), on Debian-like Linux also Chromium and its chromedriver, for the chat page's
# browser test (Tests/EndToEnd/test_chat_page.py; on macOS install Chromium and chromedriver yourself
# to run it). On Linux x86-64 also qemu user-mode emulation and the aarch64 C library, for the NEON
# kernels' check (scripts/test_arm64.sh, a static cross build run under qemu-aarch64). Swift itself
# and python3 with pip must already be there.
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' not found: $2" >&2; exit 1; }; }
need swift "install Swift 6 (https://www.swift.org/install)"
need python3 "install Python 3 with pip (the default model is fetched with pip)"
python3 -m pip --version >/dev/null 2>&1 || { echo "setup: python3 has no pip; install python3-pip" >&2; exit 1; }

browser=""
[ "${1:-}" = "--browser" ] && browser="chromium chromium-driver"
have_browser() { [ -z "$browser" ] || [ "$(uname -s)" != Linux ] || { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; }
have_arm64() {
  [ "$(uname -s)/$(uname -m)" != Linux/x86_64 ] || {
    { command -v qemu-aarch64 || command -v qemu-aarch64-static; } >/dev/null 2>&1 &&
      [ -f /usr/aarch64-linux-gnu/lib/libc.a ] && ls /usr/lib/gcc-cross/aarch64-linux-gnu/*/libgcc.a >/dev/null 2>&1
  }
}
if pkg-config --exists openblas ompi-c 2>/dev/null && command -v mpirun >/dev/null 2>&1 && have_browser && have_arm64; then
  exit 0
fi
case "$(uname -s)" in
  Linux)
    if command -v apt-get >/dev/null 2>&1; then
      sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -qq
      cross=""
      if ! have_arm64; then
        # libgcc's development package is named after the GCC version: the newest one listed
        libgcc="$(apt-cache search --names-only '^libgcc-[0-9]+-dev-arm64-cross$' | cut -d' ' -f1 | sort -V | tail -n 1)"
        cross="qemu-user libc6-dev-arm64-cross ${libgcc:-libgcc-12-dev-arm64-cross}"
      fi
      echo "setup: installing libopenblas-dev libopenmpi-dev openmpi-bin pkg-config $browser $cross with apt-get" >&2
      # shellcheck disable=SC2086  # $browser and $cross are lists of package names, or empty
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libopenblas-dev libopenmpi-dev openmpi-bin pkg-config \
        $browser >/dev/null
      # shellcheck disable=SC2086
      [ -z "$cross" ] || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $cross >/dev/null
    else
      echo "setup: install OpenBLAS and Open MPI (with their pkg-config files), mpirun, pkg-config, chromium and chromedriver (and on x86-64 qemu-user with the aarch64 C library and libgcc, for scripts/test_arm64.sh) with your package manager" >&2
      exit 1
    fi
    ;;
  Darwin)
    if ! pkg-config --exists ompi-c 2>/dev/null; then
      echo "setup: installing open-mpi with Homebrew (macOS uses Accelerate for BLAS)" >&2
      brew install open-mpi pkg-config
    fi
    ;;
esac
