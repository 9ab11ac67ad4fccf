#!/usr/bin/env bash
# kbs setup: installs the Debian packages kbs needs (when missing), the npm
# dependencies (when package-lock.json changed) and the Next production build
# (when its sources changed). Idempotent; a second run takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  bubblewrap git python3 python3-kconfiglib kconfig-frontends make gcc g++ libc6-dev
  gcc-arm-none-eabi libnewlib-arm-none-eabi gcc-avr avr-libc binutils-avr
  busybox-static qemu-system-x86 linux-image-cloud-amd64 cpio xz-utils zstd gzip
  redis-server chromium tmux ccache flex bison bc libelf-dev libssl-dev libncurses-dev
  util-linux procps file
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

lock=$(stamp package.json package-lock.json)
if [ ! -d node_modules ] || [ "$(cat node_modules/.kbs-setup-stamp 2>/dev/null)" != "$lock" ]; then
  # `npm install` rather than `npm ci`: the lock file lists only this platform's optional
  # native packages, which `npm ci` rejects as out of sync.
  echo "setup: npm install"
  npm install --no-audit --no-fund --loglevel=error
  echo "$lock" > node_modules/.kbs-setup-stamp
fi

# The Next build depends on the pages, components, styles and config only.
src=$( (find app components public -type f 2>/dev/null; ls next.config.ts postcss.config.mjs package-lock.json tsconfig.json) | sort | xargs cat | sha256sum | cut -c1-16)
if [ ! -f .next/BUILD_ID ] || [ "$(cat .next/.kbs-setup-stamp 2>/dev/null)" != "$src" ]; then
  echo "setup: next build"
  NEXT_TELEMETRY_DISABLED=1 npx next build > .next-build.log 2>&1 || { cat .next-build.log; exit 1; }
  rm -f .next-build.log
  echo "$src" > .next/.kbs-setup-stamp
fi
echo "setup: ready"
