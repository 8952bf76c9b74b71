#!/bin/sh
# Entrypoint of the gateway image (root Dockerfile) on Railway and under docker compose.
#
# 1. Railway tells a service which port to listen on through PORT; the gateway reads
#    GATEWAY_PORT. PORT, when set, wins.
# 2. Railway variables are strings, not files. PAYMENT_TEE_CA, PAYMENT_TEE_CLIENT_CERT and
#    PAYMENT_TEE_CLIENT_KEY name PEM files; when one holds the PEM text itself
#    ("-----BEGIN ..."), it is written to a file only this user can read, under
#    $TMPDIR/sealpay-tee-mtls, and the variable is pointed at that file. A value that is
#    already a path is left alone. Literal "\n" sequences (a PEM pasted on one line) become
#    newlines: base64 PEM bodies never contain a backslash.
set -eu

if [ -n "${PORT:-}" ]; then
    export GATEWAY_PORT="$PORT"
fi

pem_dir="${TMPDIR:-/tmp}/sealpay-tee-mtls"

materialize_pem() {
    name=$1
    eval "value=\${$name:-}"
    case $value in
        -----BEGIN*) ;;
        *) return 0 ;;
    esac
    (umask 077 && mkdir -p "$pem_dir")
    file="$pem_dir/$(printf '%s' "$name" | tr 'A-Z_' 'a-z-').pem"
    (umask 077 && printf '%b\n' "$value" >"$file")
    export "$name=$file"
}

for name in PAYMENT_TEE_CA PAYMENT_TEE_CLIENT_CERT PAYMENT_TEE_CLIENT_KEY; do
    materialize_pem "$name"
done

exec "$@"
