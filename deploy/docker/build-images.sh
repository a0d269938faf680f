#!/bin/sh
# Builds the service images (deploy/docker/Dockerfile, one target each) with whichever
# builder is installed: Docker (BuildKit), Podman or Buildah. Run from anywhere:
#   deploy/docker/build-images.sh [SERVICE...]      (default: every services/* folder)
# Each image is tagged conveyor-<service>:<the version in libs/conveyor/src/conveyor/_version.py>.
# The builder's output goes to stderr; stdout lists the built images, one a line.
# Environment:
#   IMAGE_BUILDER   docker | podman | buildah (default: Docker when its engine answers,
#                   else Podman, else Buildah)
#   PYTHON_IMAGE    base image (default: the Dockerfile's python:3.11-slim); a local
#                   one, e.g. from deploy/docker/local-base.sh, builds offline
#   IMAGE_REPOSITORY  prefix of the image names (default: none, e.g. registry/team/)
#   BUILDAH_ISOLATION  passed through to Podman/Buildah (chroot where the sandbox
#                   refuses namespaces)
# Podman and Buildah build with --format docker: the OCI format drops HEALTHCHECK.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

builder=${IMAGE_BUILDER:-}
if [ -z "$builder" ]; then
    # Docker counts only with an engine and BuildKit (buildx) behind the command.
    if command -v docker >/dev/null && docker buildx version >/dev/null 2>&1 \
        && docker info >/dev/null 2>&1; then
        builder=docker
    elif command -v podman >/dev/null; then
        builder=podman
    elif command -v buildah >/dev/null; then
        builder=buildah
    fi
fi
case "$builder" in
    docker) build() { DOCKER_BUILDKIT=1 docker build "$@"; } ;;
    podman) build() { podman build --format docker "$@"; } ;;
    buildah) build() { buildah build --format docker "$@"; } ;;
    "") echo "build-images.sh: no docker, podman or buildah installed" >&2; exit 3 ;;
    *) echo "build-images.sh: unknown IMAGE_BUILDER $builder (docker, podman, buildah)" >&2; exit 2 ;;
esac

version() {  # one version for every package (the services' pyprojects point at it)
    sed -n 's/^__version__ = "\(.*\)"$/\1/p' libs/conveyor/src/conveyor/_version.py
}

if [ $# -eq 0 ]; then
    set -- $(cd services && ls -d */ | tr -d /)
fi
for service in "$@"; do
    image="${IMAGE_REPOSITORY:-}conveyor-$service:$(version "$service")"
    echo "build-images.sh: $builder builds $image" >&2
    build ${PYTHON_IMAGE:+--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"} \
        -f deploy/docker/Dockerfile --target "$service" -t "$image" . >&2
    echo "$image"
done
