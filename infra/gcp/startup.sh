#!/usr/bin/env bash
# Boot of the payment TEE's Confidential VM: GCE runs this (instance metadata
# "startup-script", set by infra/gcp/setup-vm.sh) as root at every boot.
#
# 1. Install Docker on first boot (Ubuntu's docker.io).
# 2. Read the secrets "<instance>-tls-cert|tls-key|client-ca|database-url|ledger-audit-key"
#    from Secret Manager with the VM's service account, into /run (a tmpfs: secrets never
#    touch the persistent disk).
# 3. Open /dev/sev-guest to the container's user only (the SNP report ioctl), or stop:
#    no SEV-SNP device means no attestation, and the payment TEE must not pretend.
# 4. Pull the image named by the metadata attribute "sealpay-image" and run it with a
#    read-only root filesystem, a 16 MiB tmpfs on /tmp, no capabilities, the TLS files
#    mounted read-only, and the env the payment TEE reads.
# 5. Wait for https://127.0.0.1:8443/healthz and say so on the serial console, where
#    `gcloud compute instances get-serial-port-output` shows it.
#
# Only the VM's metadata server, Secret Manager, the image registry and Ubuntu's archive
# are contacted. The attestation report itself is produced by the payment TEE.
set -euo pipefail

readonly METADATA="http://metadata.google.internal/computeMetadata/v1"
readonly RUN_DIR="/run/sealpay-tee"
readonly TLS_DIR="$RUN_DIR/tls"
readonly ENV_FILE="$RUN_DIR/env"
readonly CONTAINER="payment-tee"
readonly TEE_UID=10001 # the image's user (infra/gcp/payment_tee/Dockerfile)
readonly SECRETS_MOUNT="/run/secrets/sealpay"
readonly SEV_DEVICE="/dev/sev-guest"

log() {
    printf 'sealpay-startup: %s\n' "$*"
}

fail() {
    # To stderr too: inside a command substitution stdout is the value being read.
    log "FAILED: $*" >&2
    exit 1
}

# Whatever stops the script (set -e: a secret that cannot be read, a token, a pull,
# apt) says so with a FAILED line too, with the command and where: the operator's
# `grep sealpay-startup` then ends at the reason, not at the last step begun.
# errtrace carries the trap into functions and command substitutions.
set -o errtrace
trap 'fail "line $LINENO: $BASH_COMMAND (exit $?)"' ERR

metadata() {
    curl -fsS --retry 5 --retry-connrefused -H 'Metadata-Flavor: Google' "$METADATA/$1"
}

access_token() {
    metadata "instance/service-accounts/default/token" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# secret SUFFIX: the latest version of "<instance>-SUFFIX", raw bytes on stdout.
secret() {
    local url="https://secretmanager.googleapis.com/v1/projects/$PROJECT/secrets/$INSTANCE-$1/versions/latest:access"
    curl -fsS --retry 5 -H "Authorization: Bearer $TOKEN" "$url" |
        python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["payload"]["data"]))'
}

install_docker() {
    if ! command -v docker >/dev/null; then
        log "installing docker.io"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
    fi
    systemctl enable --now docker
}

fetch_secrets() {
    log "reading secrets $INSTANCE-* from Secret Manager"
    umask 077
    rm -rf "$RUN_DIR"
    mkdir -p "$TLS_DIR"
    secret tls-cert >"$TLS_DIR/server.pem"
    secret tls-key >"$TLS_DIR/server.key"
    secret client-ca >"$TLS_DIR/ca.pem"
    # The container user reads the TLS files through a read-only bind mount; nobody else can.
    chown -R "$TEE_UID:$TEE_UID" "$TLS_DIR"
    chmod 0500 "$TLS_DIR"
    chmod 0400 "$TLS_DIR"/*

    local database_url audit_key
    database_url=$(secret database-url) # $(...) drops trailing newlines of the files
    audit_key=$(secret ledger-audit-key)
    [[ $database_url != *$'\n'* && $audit_key != *$'\n'* ]] ||
        fail "DATABASE_URL and LEDGER_AUDIT_KEY must be one line each"
    # --env-file, not --env: values on a command line are visible in `ps`.
    printf 'DATABASE_URL=%s\nLEDGER_AUDIT_KEY=%s\n' "$database_url" "$audit_key" >"$ENV_FILE"
}

prepare_sev_guest() {
    modprobe sev-guest 2>/dev/null || true
    [[ -c $SEV_DEVICE ]] || fail "no $SEV_DEVICE: this VM is not an SEV-SNP guest; not starting the payment TEE"
    getent group sev-guest >/dev/null || groupadd --system sev-guest
    chgrp sev-guest "$SEV_DEVICE"
    chmod 0660 "$SEV_DEVICE"
    SEV_GID=$(getent group sev-guest | cut -d: -f3)
    log "SEV-SNP guest device ready ($SEV_DEVICE, gid $SEV_GID)"
}

pull_image() {
    local registry=${IMAGE%%/*}
    if [[ $registry == *-docker.pkg.dev ]]; then
        docker login --username oauth2accesstoken --password-stdin "https://$registry" <<<"$TOKEN" >/dev/null
    fi
    log "pulling $IMAGE"
    docker pull --quiet "$IMAGE" >/dev/null
    if [[ $registry == *-docker.pkg.dev ]]; then
        docker logout "https://$registry" >/dev/null # the token is short-lived; do not keep it
    fi
    log "image digest: $(docker image inspect --format '{{join .RepoDigests " "}}' "$IMAGE")"
}

run_container() {
    docker rm --force "$CONTAINER" >/dev/null 2>&1 || true
    docker run --detach --name "$CONTAINER" --restart=unless-stopped \
        --read-only \
        --tmpfs "/tmp:rw,nosuid,nodev,noexec,size=16m,uid=$TEE_UID,gid=$TEE_UID,mode=0700" \
        --cap-drop=ALL --security-opt=no-new-privileges:true --pids-limit=256 \
        --device="$SEV_DEVICE" --group-add="$SEV_GID" \
        --mount="type=bind,src=$TLS_DIR,dst=$SECRETS_MOUNT,readonly" \
        --env-file="$ENV_FILE" \
        --env=SEALPAY_ENV=production \
        --env=TEE_ENFORCE_BOUNDARY=1 \
        --env=TEE_ATTESTATION_PROVIDER=auto \
        --env=PAYMENT_TEE_HOST=0.0.0.0 \
        --env=PAYMENT_TEE_PORT=50051 \
        --env=ATTESTATION_PORT=8443 \
        --env=TEE_TLS_CERT="$SECRETS_MOUNT/server.pem" \
        --env=TEE_TLS_KEY="$SECRETS_MOUNT/server.key" \
        --env=TEE_CLIENT_CA="$SECRETS_MOUNT/ca.pem" \
        --publish=50051:50051 --publish=8443:8443 \
        --log-driver=journald \
        "$IMAGE" >/dev/null
    log "container $CONTAINER started"
}

wait_healthy() {
    local attempt
    for attempt in $(seq 1 60); do
        if curl -fsSk --max-time 3 https://127.0.0.1:8443/healthz >/dev/null 2>&1; then
            log "payment TEE healthy after ${attempt} tries: gRPC :50051, attestation :8443"
            return 0
        fi
        sleep 2
    done
    docker logs --tail 50 "$CONTAINER" 2>&1 | sed 's/^/payment-tee: /' || true
    fail "payment TEE not healthy after 120 s (logs above; journalctl CONTAINER_NAME=$CONTAINER)"
}

main() {
    PROJECT=$(metadata project/project-id)
    INSTANCE=$(metadata instance/name)
    IMAGE=$(metadata instance/attributes/sealpay-image)
    log "project $PROJECT, instance $INSTANCE"
    install_docker
    prepare_sev_guest
    TOKEN=$(access_token)
    fetch_secrets
    pull_image
    run_container
    wait_healthy
}

main "$@"
