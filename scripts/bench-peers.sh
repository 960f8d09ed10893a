#!/usr/bin/env bash
# Builds the peers that bench/ compares weir with, into git-ignored bench/.peers/.
#
# Benthos v4.27.0 (MIT): `go install …@v4.27.0` is refused by the module proxy setup here, but
# `go mod download` works, so the module is copied out of the module cache and built in place.
# One of its dependencies links to a Go runtime internal that Go 1.26 refuses by default, hence
# -ldflags=-checklinkname=0. The build takes about 8 minutes on 2 cores; it is skipped when the
# binary is already there.
#
#   scripts/bench-peers.sh            build what is missing, print the binary's path
#   BENTHOS_VERSION=v4.27.0           which release to build
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
VERSION="${BENTHOS_VERSION:-v4.27.0}"
PEERS="$ROOT/bench/.peers"
SRC="$PEERS/benthos"
BIN="$PEERS/bin/benthos"

log() { echo "bench-peers.sh: $*" >&2; }

if [[ -x "$BIN" ]] && "$BIN" --version 2>/dev/null | grep -q "${VERSION#v}"; then
  log "benthos $VERSION already built: $BIN"
  echo "$BIN"
  exit 0
fi

mkdir -p "$PEERS/bin"
# `go mod download -json` names the unpacked module directory in the module cache. It runs from
# a scratch directory so weir's go.mod is not touched.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dir="$(cd "$tmp" && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/benthosdev/benthos/v4@$VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$dir" || ! -d "$dir" ]]; then
  log "go mod download did not name a module directory"
  exit 1
fi
log "copying $dir to $SRC"
rm -rf "$SRC"
cp -r "$dir" "$SRC"
chmod -R u+w "$SRC"

log "building benthos $VERSION (about 8 minutes on 2 cores)"
# -buildvcs=false: the copy sits inside weir's work tree, whose commit is not Benthos's.
(cd "$SRC" && GOFLAGS="-mod=mod -buildvcs=false" "$GO" build -trimpath \
  -ldflags="-checklinkname=0 -X github.com/benthosdev/benthos/v4/internal/cli.Version=${VERSION#v}" \
  -o "$BIN" ./cmd/benthos)
log "built $BIN"
echo "$BIN"
