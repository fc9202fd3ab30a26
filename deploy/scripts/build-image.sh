#!/usr/bin/env bash
# Builds the image from the repository root: deploy/scripts/build-image.sh [TAG] (default toolformer:dev).
# Makes the pinned base images first when no registry gives them (base-images.sh), labels the image
# with the version and the commit, and hands the build a TLS-inspecting proxy's CA (NODE_EXTRA_CA_CERTS
# or npm's cafile) as a build secret, so `npm ci` inside the build trusts what the host trusts.
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG="${1:-localhost/toolformer:dev}"
deploy/scripts/base-images.sh

ca="${NODE_EXTRA_CA_CERTS:-}"
[ -z "$ca" ] && ca="$(npm config get cafile 2>/dev/null || true)"
secret=()
if [ -n "$ca" ] && [ "$ca" != "null" ] && [ -s "$ca" ]; then secret=(--secret "id=npm-ca,src=$ca"); fi

version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -1)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
podman build --pull=never "${secret[@]}" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  -f deploy/Containerfile -t "$TAG" .
podman image inspect "$TAG" --format "$TAG: {{.Size}} bytes"
