#!/usr/bin/env bash
# Makes the two base images the manifests name, pinned, when no registry can give them: these machines
# reach Debian's mirror and npm's registry only (shared/CONTAINERS.md). Each image is pulled if a
# registry answers, else built as a local look-alike tagged with the exact same name, so
# deploy/Containerfile and the manifests run unchanged (`podman build --pull=never`):
#   - node:NODE_VERSION-bookworm-slim: a slimmed Debian bookworm (debootstrap) with the `node` binary of
#     the npm package of that version (the project's devDependency) and the machine's npm, user node (1000);
#   - nats:NATS_VERSION-alpine: the same Debian with the nats-server binary of Debian's `sid` (checked
#     against the package index), at /usr/local/bin/nats-server like the official image.
# Idempotent: an image that exists is kept. Needs podman (deploy/scripts/install-podman.sh) and root.
set -euo pipefail
cd "$(dirname "$0")/../.."

NODE_VERSION="${NODE_VERSION:-24.21.0}"
NATS_VERSION="${NATS_VERSION:-2.15.1}"
NODE_IMAGE="docker.io/library/node:${NODE_VERSION}-bookworm-slim"
NATS_IMAGE="docker.io/library/nats:${NATS_VERSION}-alpine"
DEBIAN_IMAGE="localhost/toolformer-debian:bookworm-slim"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d /tmp/toolformer-base-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

have() { podman image exists "$1"; }
pulled() { timeout 60 podman pull -q "$1" >/dev/null 2>&1; }

debian_base() {
  have "$DEBIAN_IMAGE" && return
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: run deploy/scripts/install-podman.sh" >&2; exit 1; }
  echo "building $DEBIAN_IMAGE with debootstrap from $MIRROR"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # What Docker's slim images leave out: documentation, manuals, translations, apt's caches.
  rm -rf "$work"/rootfs/usr/share/{doc,man,info,locale}/* "$work"/rootfs/var/cache/apt/* \
    "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/log/*.log
  cat >"$work/rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
  tar -C "$work/rootfs" -c . | podman import -q - "$DEBIAN_IMAGE" >/dev/null
}

node_image() {
  have "$NODE_IMAGE" && { echo "$NODE_IMAGE: present"; return; }
  pulled "$NODE_IMAGE" && { echo "$NODE_IMAGE: pulled"; return; }
  local node_bin=node_modules/node/bin/node
  [ -x "$node_bin" ] || { echo "$node_bin is missing: run npm ci first" >&2; exit 1; }
  local version
  version="$("$node_bin" --version)"
  [ "$version" = "v$NODE_VERSION" ] || { echo "$node_bin is $version, not v$NODE_VERSION" >&2; exit 1; }
  debian_base
  echo "building the look-alike $NODE_IMAGE"
  mkdir -p "$work/node"
  cp "$node_bin" "$work/node/node"
  cp -a "$(npm root -g)/npm" "$work/node/npm"
  cat >"$work/node/Containerfile" <<CONTAINERFILE
FROM $DEBIAN_IMAGE
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=$NODE_VERSION
CMD ["node"]
CONTAINERFILE
  podman build -q --pull=never -t "$NODE_IMAGE" "$work/node" >/dev/null
}

nats_image() {
  have "$NATS_IMAGE" && { echo "$NATS_IMAGE: present"; return; }
  pulled "$NATS_IMAGE" && { echo "$NATS_IMAGE: pulled"; return; }
  debian_base
  mkdir -p "$work/nats"
  curl -fsS "$MIRROR/dists/sid/main/binary-amd64/Packages.gz" | gunzip >"$work/Packages"
  local stanza version filename sha256
  stanza="$(awk -v RS= '/(^|\n)Package: nats-server\n/' "$work/Packages")"
  version="$(sed -n 's/^Version: //p' <<<"$stanza")"
  filename="$(sed -n 's/^Filename: //p' <<<"$stanza")"
  sha256="$(sed -n 's/^SHA256: //p' <<<"$stanza")"
  [ "${version%%-*}" = "$NATS_VERSION" ] ||
    echo "warning: Debian sid ships nats-server $version; the look-alike $NATS_IMAGE carries that one" >&2
  curl -fsS -o "$work/nats.deb" "$MIRROR/$filename"
  echo "$sha256  $work/nats.deb" | sha256sum -c --quiet
  dpkg-deb -x "$work/nats.deb" "$work/nats/root"
  cp "$work/nats/root/usr/sbin/nats-server" "$work/nats/nats-server"
  echo "building the look-alike $NATS_IMAGE (nats-server $version)"
  cat >"$work/nats/Containerfile" <<CONTAINERFILE
FROM $DEBIAN_IMAGE
COPY nats-server /usr/local/bin/nats-server
EXPOSE 4222 6222 8222
ENTRYPOINT ["/usr/local/bin/nats-server"]
CMD ["--config", "/etc/nats/nats-server.conf"]
CONTAINERFILE
  podman build -q --pull=never -t "$NATS_IMAGE" "$work/nats" >/dev/null
}

node_image
nats_image
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "node:$NODE_VERSION|nats:$NATS_VERSION|toolformer-debian"
