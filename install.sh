#!/bin/sh
# Installs devrig and its two other names, devservices and devenv.
#   sh install.sh              → ~/.cargo/bin
#   PREFIX=/usr/local sh install.sh → /usr/local/bin
# Safe to run again: it rebuilds only what changed and keeps the links.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-${CARGO_HOME:-$HOME/.cargo}}
bin="$prefix/bin"

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed; get Rust from your package manager or rustup first" >&2
    exit 1
fi

cargo install --locked --quiet --path "$here" --root "$prefix"

for name in devservices devenv; do
    ln -sfn devrig "$bin/$name"
done

echo "installed devrig, devservices and devenv in $bin"
case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "note: $bin is not on your PATH; add it, e.g. export PATH=\"$bin:\$PATH\"" ;;
esac
