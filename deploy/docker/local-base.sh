#!/bin/sh
# Builds a Python base image from Debian's packages (debootstrap), for building the
# service images where no image registry is reachable:
#   deploy/docker/local-base.sh [IMAGE]    (default localhost/conveyor-python:3.11-bookworm)
#   make image PYTHON_IMAGE=localhost/conveyor-python:3.11-bookworm
# Debian bookworm's python3 is 3.11 (the project needs >= 3.11). The root file system
# is cached in CONVEYOR_BASE_CACHE (default /var/tmp/conveyor-base, outside the
# repository) and reused; the image is imported into podman's/buildah's storage
# (or docker's) only when missing. Needs root, debootstrap and Debian's mirror.
# The image trusts the certificate authorities this machine trusts (its
# /etc/ssl/certs/ca-certificates.crt, e.g. with a TLS-inspecting proxy's CA), so
# that pip inside the image build reaches the package index the way the host does:
# it is a base for local builds, not one to publish.
set -eu

image=${1:-localhost/conveyor-python:3.11-bookworm}
cache=${CONVEYOR_BASE_CACHE:-/var/tmp/conveyor-base}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if command -v buildah >/dev/null; then
    exists() { buildah inspect --type image "$image" >/dev/null 2>&1; }
elif command -v podman >/dev/null; then
    exists() { podman image exists "$image"; }
elif command -v docker >/dev/null; then
    exists() { docker image inspect "$image" >/dev/null 2>&1; }
else
    echo "local-base.sh: no buildah, podman or docker installed" >&2
    exit 3
fi
if exists; then
    echo "$image"
    exit 0
fi

rootfs="$cache/$suite-rootfs.tar"
if [ ! -s "$rootfs" ]; then
    command -v debootstrap >/dev/null || { echo "local-base.sh: debootstrap not installed" >&2; exit 3; }
    work="$cache/$suite.tmp"
    rm -rf "$work"
    mkdir -p "$work"
    # python-is-python3: the Dockerfile (like python:3.11-slim) calls `python`.
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
        "$suite" "$work" "$mirror" >"$cache/debootstrap.log" 2>&1 \
        || { echo "local-base.sh: debootstrap failed, see $cache/debootstrap.log" >&2; exit 1; }
    rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/*
    tar -C "$work" --numeric-owner -cf "$rootfs.tmp" .
    mv "$rootfs.tmp" "$rootfs"
    rm -rf "$work"
fi

bundle=/etc/ssl/certs/ca-certificates.crt
layer="$cache/$suite-image.tar"
cp "$rootfs" "$layer.tmp"
if [ -s "$bundle" ]; then
    tar -C / -rf "$layer.tmp" "${bundle#/}"
fi
mv "$layer.tmp" "$layer"
env_ca="SSL_CERT_FILE=$bundle"
env_pip="PIP_CERT=$bundle"
if command -v buildah >/dev/null; then
    container=$(buildah from scratch)
    buildah add "$container" "$layer" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --env "$env_ca" --env "$env_pip" --cmd python3 "$container"
    buildah commit --quiet --format docker --rm "$container" "$image" >/dev/null
elif command -v podman >/dev/null; then
    podman import --quiet --change 'ENV LANG=C.UTF-8' --change "ENV $env_ca" --change "ENV $env_pip" \
        --change 'CMD ["python3"]' "$layer" "$image" >/dev/null
else
    docker import --change 'ENV LANG=C.UTF-8' --change "ENV $env_ca" --change "ENV $env_pip" \
        --change 'CMD ["python3"]' "$layer" "$image" >/dev/null
fi
echo "$image"
