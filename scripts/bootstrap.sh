#!/usr/bin/env bash
# Set up everything edgeclas needs on a fresh Debian machine, idempotently:
#   1. system packages (apt) that are missing,
#   2. the project virtualenv .venv with edgeclas[all] installed editable,
#   3. SDK pieces that tests and the demo use, into the edgeclas cache (ONNX Runtime, the Lite opt route,
#      the emulated phone's userland).
# Re-running is cheap: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv cmake ninja-build g++ pkg-config
  g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user-static
  adb libstb-dev googletest unzip
  libjpeg62-turbo-dev libpng-dev zlib1g-dev  # clas_system decodes JPEG/PNG with them on the host
  clang libclang-rt-14-dev  # libFuzzer targets (native/fuzz)
  git flatbuffers-compiler libflatbuffers-dev  # Paddle Lite from source (edgeclas sdk build paddle-lite)
  # ... and its x86 host build, which takes these instead of Paddle Lite's unpinned downloads (lite/x86_recipe.py)
  libeigen3-dev libxbyak-dev libxxhash-dev libopenblas-dev libgflags-dev
  libprotobuf-dev libprotoc-dev protobuf-compiler
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
#    Paddle Lite for ARM is not built here: it is tailored to the test models' kernels, which only exist
#    once the tests made those models, so the test session builds it (tests/fixtures_lite_build.py) from
#    ../shared/third_party/ or $EDGECLAS_PADDLE_LITE_SOURCE into the edgeclas cache, once.
for target in "--arch host" "--arch armv8 --os linux"; do
  # shellcheck disable=SC2086  # $target is two words on purpose
  .venv/bin/edgeclas sdk path onnxruntime $target >/dev/null 2>&1 || .venv/bin/edgeclas sdk install onnxruntime $target
done
# The emulated phone's /system (mksh, toybox: Debian ARM packages fetched with apt-get download into a
# private package index, sha256-pinned); run once under qemu at install to list their commands.
for arch in armv8 armv7; do
  .venv/bin/edgeclas sdk path android-userland --arch "$arch" >/dev/null 2>&1 \
    || .venv/bin/edgeclas sdk install android-userland --arch "$arch"
done
# libjpeg-turbo/libpng/zlib for ARM Linux clas_system builds: Debian's arm64/armhf -dev packages, fetched with
# apt-get through a private apt state (the system apt never gets multiarch), pinned by sha256.
for target in "--arch armv8 --os linux" "--arch armv7 --os linux"; do
  # shellcheck disable=SC2086
  .venv/bin/edgeclas sdk path image-libs $target >/dev/null 2>&1 || .venv/bin/edgeclas sdk install image-libs $target
done
# The Paddle Lite compat runtime (.nb conversion and the host lite engine; an opt binary alone cannot run
# models): no verb installs packages at run time, so it is set up here (pinned wheel from PyPI, sha256
# checked). Idempotent: an installed runtime is only checked.
.venv/bin/edgeclas sdk install lite-opt

# 4. The build backend of edgeclas's own wheel (setuptools>=77, as pyproject.toml requires), kept in the
#    cache so tests/test_wheel.py builds and installs the wheel without network. Downloaded once.
backend=$(.venv/bin/python -c 'from edgeclas.paths import cache_dir; print(cache_dir("wheels", "build-backend"))')
if ! ls "$backend"/setuptools-*.whl "$backend"/wheel-*.whl >/dev/null 2>&1; then
  echo "bootstrap: downloading the wheel build backend into $backend"
  .venv/bin/python -m pip download -q --only-binary=:all: -d "$backend" 'setuptools>=77' wheel
fi
