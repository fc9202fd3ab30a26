#!/usr/bin/env bash
# Installs podman the way these machines need it (shared/CONTAINERS.md), and does nothing that is already
# done: Debian's podman with runc (crun fails here: "cgroups in hybrid mode not supported"), kubectl's
# check, and a containers.conf with lowered ulimits (without them runc fails: "setrlimit RLIMIT_NOFILE:
# Operation not permitted"). Run as root or with sudo. Used by `npm run test:deploy` and CI.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
# debootstrap makes the base image when no registry is reachable (deploy/scripts/base-images.sh).
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# netavark (podman's network stack) runs iptables; without it every container with a network fails.
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# pods (`podman kube play`) need a pause image, which podman builds around catatonit.
[ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null 2>&1 || missing+=(catatonit)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian's apt"
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    "${missing[@]}" netavark aardvark-dns iptables uidmap slirp4netns fuse-overlayfs
fi

conf=/etc/containers/containers.conf
marker="# toolformer: runc and lowered ulimits (deploy/scripts/install-podman.sh)"
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
  if [ -s "$conf" ]; then
    echo "keeping the old $conf as $conf.before-toolformer"
    $SUDO cp "$conf" "$conf.before-toolformer"
  fi
  $SUDO mkdir -p /etc/containers
  $SUDO tee "$conf" >/dev/null <<CONF
$marker
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
CONF
fi

podman --version
command -v kubectl >/dev/null 2>&1 && kubectl version --client 2>/dev/null | head -2 || echo "kubectl is missing: the deploy test renders the manifests with kubectl kustomize" >&2
