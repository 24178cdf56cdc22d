#!/usr/bin/env bash
# Set up everything edgeclas needs on a fresh Debian machine, idempotently:
#   1. system packages (apt) that are missing,
#   2. the project virtualenv .venv with edgeclas[all] installed editable,
#   3. SDK pieces that tests and the demo use, into the edgeclas cache (ONNX Runtime, the Lite opt route).
# Re-running is cheap: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv cmake ninja-build g++ pkg-config
  g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user-static
  adb libstb-dev googletest unzip
  chromium  # report tests open the HTML report in headless Chromium
  curl      # the serve test posts an image the way README shows
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The ORT headers (step 3) come from an npm package; any npm will do, Debian's if none is on PATH.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "bootstrap: installing system packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last successful install.
stamp=.venv/.edgeclas-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[all]'
  echo "$want" > "$stamp"
fi

# 3. SDK pieces the native builds and tests use, into the edgeclas cache (pinned sha256; cached after
#    the first run). The ORT headers come from an npm package: `npm` must be on PATH (apt-get install npm).
for target in "--arch host" "--arch armv8 --os linux"; do
  # shellcheck disable=SC2086  # $target is two words on purpose
  .venv/bin/edgeclas sdk path onnxruntime $target >/dev/null 2>&1 || .venv/bin/edgeclas sdk install onnxruntime $target
done
# The Paddle Lite compat runtime (.nb conversion and the host lite engine; an opt binary alone cannot run
# models): no verb installs packages at run time, so it is set up here (pinned wheel from PyPI, sha256
# checked). Idempotent: an installed runtime is only checked.
.venv/bin/edgeclas sdk install lite-opt
