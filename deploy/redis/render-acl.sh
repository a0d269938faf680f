#!/bin/sh
# Render users.acl: replace each __<USER>_SHA256__ placeholder with the sha256 hex
# digest of that user's password. Digests come from the environment, never
# passwords, so the rendering host never sees them:
#   INGEST_SHA256 SCHEDULER_SHA256 WORKER_SHA256 KEDA_SHA256
# and, for applications that enqueue over Redis directly, PRODUCER_SHA256: without
# it the conveyor-producer user is left out of the rendered file.
# Compute one with:  printf '%s' "$PASSWORD" | sha256sum | cut -d' ' -f1
# KEY_PREFIX (default conveyor) must equal the services' CONVEYOR_KEY_PREFIX: the
# key patterns are rendered for it.
# Redis ACL files allow no comments: the template's comment lines (starting with
# '#') and blank lines are dropped here.
# Usage: render-acl.sh TEMPLATE OUTPUT
set -eu
template=${1:?usage: render-acl.sh TEMPLATE OUTPUT}
output=${2:?usage: render-acl.sh TEMPLATE OUTPUT}
check() {
    value=$(eval "printf '%s' \"\${$1:-}\"")
    case $value in
        *[!0-9a-f]*|'') echo "render-acl: $1 must be a lowercase sha256 hex digest" >&2; exit 2 ;;
    esac
    if [ "${#value}" -ne 64 ]; then
        echo "render-acl: $1 must be 64 hex characters" >&2
        exit 2
    fi
}
for name in INGEST_SHA256 SCHEDULER_SHA256 WORKER_SHA256 KEDA_SHA256; do check "$name"; done
if [ -n "${PRODUCER_SHA256:-}" ]; then
    check PRODUCER_SHA256
    producer="s/__PRODUCER_SHA256__/$PRODUCER_SHA256/"
else
    producer="/__PRODUCER_SHA256__/d"
fi
prefix=${KEY_PREFIX:-conveyor}
case $prefix in
    *[!A-Za-z0-9_.-]*|[!A-Za-z0-9]*)
        echo "render-acl: KEY_PREFIX must be letters, digits, '_', '.' or '-', starting with a letter or digit" >&2
        exit 2 ;;
esac
umask 077
sed -e '/^#/d' -e '/^[[:space:]]*$/d' \
    -e "s/__INGEST_SHA256__/$INGEST_SHA256/" \
    -e "s/__SCHEDULER_SHA256__/$SCHEDULER_SHA256/" \
    -e "s/__WORKER_SHA256__/$WORKER_SHA256/" \
    -e "s/__KEDA_SHA256__/$KEDA_SHA256/" \
    -e "$producer" \
    -e "s/~conveyor:/~$prefix:/g" \
    "$template" > "$output"
