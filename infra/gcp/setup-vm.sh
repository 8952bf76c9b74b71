#!/usr/bin/env bash
# Create the payment TEE's Confidential VM (AMD SEV-SNP) and everything around it.
#
#   infra/gcp/setup-vm.sh --project ID --image-url IMAGE --gateway-cidr CIDR[,CIDR...] \
#       --database-url-file FILE --audit-key-file FILE [options] [--dry-run]
#
# Idempotent: every resource is described before it is created, and what exists is
# left alone, so a second run changes nothing. Two things converge instead of being
# skipped, because keeping a stale value would be wrong: the firewall's source ranges
# (when --gateway-cidr changes) and the container image the VM runs (when --image-url
# changes; the VM picks it up at its next boot). A secret gets a new version only when
# its file differs from the latest version.
#
# --dry-run prints every gcloud command, one per line as "+ gcloud ...", and runs none
# (reads included; the plan then assumes nothing exists yet).
#
# Run `infra/gcp/setup-vm.sh --help` for the options. The runbook is infra/gcp/CUTOVER.md.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/gcp/lib.sh
source "$SCRIPT_DIR/lib.sh"

MACHINE_TYPE="n2d-standard-2"
# Ubuntu 24.04 LTS: its GCE image carries the SEV_SNP_CAPABLE guest OS feature and its
# kernel (6.8) has the sev-guest driver (/dev/sev-guest) and configfs-tsm, which the
# payment TEE's attestation providers use. Checked before the VM is created.
IMAGE_FAMILY="ubuntu-2404-lts-amd64"
IMAGE_PROJECT="ubuntu-os-cloud"
BOOT_DISK_SIZE="20GB"
SUBNET_RANGE="10.80.0.0/24"
GATEWAY_CIDRS=""
OPERATOR_CIDRS=""
ALLOW_IAP_SSH=0
TLS_CERT_FILE=".data/mtls-prod/server.pem"
TLS_KEY_FILE=".data/mtls-prod/server.key"
CLIENT_CA_FILE=".data/mtls-prod/ca.pem"
DATABASE_URL_FILE=""
AUDIT_KEY_FILE=""
STARTUP_SCRIPT="$SCRIPT_DIR/startup.sh"
REQUIRED_APIS=(compute.googleapis.com secretmanager.googleapis.com iam.googleapis.com)
SECRET_ACCESSOR_ROLE="roles/secretmanager.secretAccessor"
IAP_RANGE="35.235.240.0/20" # where Identity-Aware Proxy TCP forwarding connects from

usage() {
    cat <<EOF
usage: infra/gcp/setup-vm.sh --project ID --image-url IMAGE --gateway-cidr CIDR[,CIDR...]
                             --database-url-file FILE --audit-key-file FILE [options]

required:
  --project ID              GCP project (or CLOUDSDK_CORE_PROJECT)
  --image-url IMAGE         payment TEE container image, ideally pinned by digest
                            (REGION-docker.pkg.dev/PROJECT/REPO/payment-tee@sha256:...)
  --gateway-cidr CIDRS      the gateway's egress range(s), comma-separated IPv4 CIDRs; the
                            only source allowed to tcp:50051 and tcp:8443
  --database-url-file FILE  file holding DATABASE_URL (the shared ledger PostgreSQL)
  --audit-key-file FILE     file holding LEDGER_AUDIT_KEY (same value as the gateway's)

options (defaults in brackets):
  --region REGION           [$REGION] (or CLOUDSDK_COMPUTE_REGION)
  --zone ZONE               [$ZONE] (or CLOUDSDK_COMPUTE_ZONE)
  --instance NAME           [$INSTANCE] also prefixes the address, firewall rules,
                            secrets and service account
  --machine-type TYPE       [$MACHINE_TYPE] (N2D: AMD Milan or later)
  --image-family FAMILY     [$IMAGE_FAMILY]
  --image-project PROJECT   [$IMAGE_PROJECT]
  --network NAME            [$NETWORK]
  --subnet NAME             [$SUBNET]
  --subnet-range CIDR       [$SUBNET_RANGE]
  --network-tag TAG         [$NETWORK_TAG] the firewall rules target this tag
  --tls-cert FILE           [$TLS_CERT_FILE] TEE_TLS_CERT
  --tls-key FILE            [$TLS_KEY_FILE] TEE_TLS_KEY
  --client-ca FILE          [$CLIENT_CA_FILE] TEE_CLIENT_CA
  --operator-cidr CIDRS     also allow these ranges to tcp:8443 (attestation) only, so an
                            operator can run \`python -m sealpay attest\`; repeatable
  --allow-iap-ssh           allow SSH through Identity-Aware Proxy ($IAP_RANGE, tcp:22)
  --dry-run                 print the gcloud commands ("+ gcloud ...") and run none
  -h, --help                this help
EOF
}

parse_args() {
    normalize_flags "$@"
    set -- ${NORMALIZED[@]+"${NORMALIZED[@]}"}
    while (($#)); do
        case $1 in
        --project) PROJECT=$(flag_value "$@"); shift 2 ;;
        --image-url) IMAGE_URL=$(flag_value "$@"); shift 2 ;;
        --gateway-cidr) GATEWAY_CIDRS=$(flag_value "$@"); shift 2 ;;
        --database-url-file) DATABASE_URL_FILE=$(flag_value "$@"); shift 2 ;;
        --audit-key-file) AUDIT_KEY_FILE=$(flag_value "$@"); shift 2 ;;
        --region) REGION=$(flag_value "$@"); shift 2 ;;
        --zone) ZONE=$(flag_value "$@"); shift 2 ;;
        --instance) INSTANCE=$(flag_value "$@"); shift 2 ;;
        --machine-type) MACHINE_TYPE=$(flag_value "$@"); shift 2 ;;
        --image-family) IMAGE_FAMILY=$(flag_value "$@"); shift 2 ;;
        --image-project) IMAGE_PROJECT=$(flag_value "$@"); shift 2 ;;
        --network) NETWORK=$(flag_value "$@"); shift 2 ;;
        --subnet) SUBNET=$(flag_value "$@"); shift 2 ;;
        --subnet-range) SUBNET_RANGE=$(flag_value "$@"); shift 2 ;;
        --network-tag) NETWORK_TAG=$(flag_value "$@"); shift 2 ;;
        --tls-cert) TLS_CERT_FILE=$(flag_value "$@"); shift 2 ;;
        --tls-key) TLS_KEY_FILE=$(flag_value "$@"); shift 2 ;;
        --client-ca) CLIENT_CA_FILE=$(flag_value "$@"); shift 2 ;;
        --operator-cidr) OPERATOR_CIDRS="${OPERATOR_CIDRS:+$OPERATOR_CIDRS,}$(flag_value "$@")"; shift 2 ;;
        --allow-iap-ssh) ALLOW_IAP_SSH=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
        esac
    done
}

# A comma-separated list of IPv4 CIDRs, none broader than /16: the firewall exists to
# admit the gateway and nobody else, so 0.0.0.0/0 (or anything like it) is refused.
validate_cidrs() {
    local flag=$1 list=$2 cidr i
    local -a cidrs
    local re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$'
    IFS=',' read -r -a cidrs <<<"$list"
    ((${#cidrs[@]})) || die "$flag is empty"
    for cidr in "${cidrs[@]}"; do
        [[ $cidr =~ $re ]] || die "$flag: '$cidr' is not an IPv4 CIDR (e.g. 203.0.113.7/32)"
        for i in 1 2 3 4; do
            ((10#${BASH_REMATCH[i]} <= 255)) || die "$flag: '$cidr' is not an IPv4 CIDR"
        done
        ((10#${BASH_REMATCH[5]} <= 32)) || die "$flag: '$cidr' has a prefix longer than /32"
        ((10#${BASH_REMATCH[5]} >= 16)) || die "$flag: '$cidr' is broader than /16; refusing to open the TEE that wide"
    done
}

readable_file() {
    local flag=$1 path=$2
    [[ -n $path ]] || die "$flag is required"
    [[ -f $path && -r $path ]] || die "$flag: cannot read '$path'"
    [[ -s $path ]] || die "$flag: '$path' is empty"
}

validate() {
    validate_common
    [[ -n $IMAGE_URL ]] || die "--image-url is required (the payment TEE container image)"
    [[ $IMAGE_URL =~ ^[^[:space:],]+$ ]] || die "--image-url must not contain spaces or commas"
    [[ -n $GATEWAY_CIDRS ]] || die "--gateway-cidr is required (the gateway's egress range)"
    validate_cidrs --gateway-cidr "$GATEWAY_CIDRS"
    [[ -z $OPERATOR_CIDRS ]] || validate_cidrs --operator-cidr "$OPERATOR_CIDRS"
    readable_file --database-url-file "$DATABASE_URL_FILE"
    readable_file --audit-key-file "$AUDIT_KEY_FILE"
    readable_file --tls-cert "$TLS_CERT_FILE"
    readable_file --tls-key "$TLS_KEY_FILE"
    readable_file --client-ca "$CLIENT_CA_FILE"
    readable_file "startup script" "$STARTUP_SCRIPT"
    if [[ $IMAGE_URL != *@sha256:* ]]; then
        note "warning: --image-url is not pinned by digest; the VM runs whatever the tag points at when it boots"
    fi
}

ensure_apis() {
    step "APIs: ${REQUIRED_APIS[*]}"
    local enabled missing=() api
    enabled=$(gcloud_query services list --enabled --project="$PROJECT" --format='value(config.name)') || enabled=""
    for api in "${REQUIRED_APIS[@]}"; do
        grep -qx -- "$api" <<<"$enabled" || missing+=("$api")
    done
    if ((${#missing[@]})); then
        gcloud_change services enable "${missing[@]}" --project="$PROJECT"
    else
        note "all enabled"
    fi
}

# Refuse early, with a clear message, an image GCE would not boot as an SEV-SNP guest.
check_boot_image() {
    step "boot image: $IMAGE_PROJECT/$IMAGE_FAMILY must be SEV_SNP_CAPABLE"
    local features
    if ! features=$(gcloud_query compute images describe-from-family "$IMAGE_FAMILY" \
        --project="$IMAGE_PROJECT" --format='value(guestOsFeatures[].type)'); then
        ((DRY_RUN)) && return 0
        die "cannot describe image family $IMAGE_PROJECT/$IMAGE_FAMILY"
    fi
    [[ $features == *SEV_SNP_CAPABLE* ]] ||
        die "$IMAGE_PROJECT/$IMAGE_FAMILY is not SEV_SNP_CAPABLE (features: $features)"
}

ensure_service_account() {
    step "service account $SA_EMAIL (reads the secrets, pulls the image; no other role)"
    if exists iam service-accounts describe "$SA_EMAIL" --project="$PROJECT"; then
        note "exists"
        return
    fi
    gcloud_change iam service-accounts create "$SA_ID" --project="$PROJECT" \
        --display-name="Sealpay payment TEE (Confidential VM)"
}

# ensure_secret SUFFIX FILE: the secret exists and its latest version equals FILE.
ensure_secret() {
    local name file=$2
    name=$(secret_name "$1")
    step "secret $name <- $file"
    if ! exists secrets describe "$name" --project="$PROJECT"; then
        gcloud_change secrets create "$name" --project="$PROJECT" \
            --replication-policy=automatic --labels=app=sealpay,component=payment-tee
        gcloud_change secrets versions add "$name" --project="$PROJECT" --data-file="$file"
    elif latest_version_differs "$name" "$file"; then
        note "file differs from the latest version: adding a version (the VM reads it at its next boot)"
        gcloud_change secrets versions add "$name" --project="$PROJECT" --data-file="$file"
    else
        note "exists, latest version matches"
    fi
    ensure_secret_access "$name"
}

latest_version_differs() {
    local name=$1 file=$2 tmp differs=1
    tmp=$(mktemp -d) # 0700: the secret's value passes through here, briefly
    if gcloud_query secrets versions access latest --secret="$name" --project="$PROJECT" \
        --out-file="$tmp/latest" >/dev/null && cmp -s "$tmp/latest" "$file"; then
        differs=0
    fi
    rm -rf "$tmp"
    ((differs))
}

ensure_secret_access() {
    local name=$1 role
    role=$(gcloud_query secrets get-iam-policy "$name" --project="$PROJECT" \
        --flatten='bindings[].members' \
        --filter="bindings.role=$SECRET_ACCESSOR_ROLE AND bindings.members:$SA_EMAIL" \
        --format='value(bindings.role)') || role=""
    if [[ -n $role ]]; then
        note "$SA_EMAIL may read it"
        return
    fi
    gcloud_change secrets add-iam-policy-binding "$name" --project="$PROJECT" \
        --member="$SA_MEMBER" --role="$SECRET_ACCESSOR_ROLE" --condition=None
}

ensure_secrets() {
    ensure_secret tls-cert "$TLS_CERT_FILE"
    ensure_secret tls-key "$TLS_KEY_FILE"
    ensure_secret client-ca "$CLIENT_CA_FILE"
    ensure_secret database-url "$DATABASE_URL_FILE"
    ensure_secret ledger-audit-key "$AUDIT_KEY_FILE"
}

ensure_image_access() {
    if ! parse_artifact_registry; then
        step "image pull access: $IMAGE_URL is not in Artifact Registry"
        note "make sure $SA_EMAIL can pull it (public image, or registry credentials)"
        return
    fi
    step "image pull access: $AR_READER_ROLE on $AR_PROJECT/$AR_LOCATION/$AR_REPO"
    if has_image_access; then
        note "granted"
        return
    fi
    gcloud_change artifacts repositories add-iam-policy-binding "$AR_REPO" \
        --location="$AR_LOCATION" --project="$AR_PROJECT" \
        --member="$SA_MEMBER" --role="$AR_READER_ROLE" --condition=None
}

ensure_network() {
    step "network $NETWORK (custom mode: no default rules, nothing open but what follows)"
    if exists compute networks describe "$NETWORK" --project="$PROJECT"; then
        note "exists"
    else
        gcloud_change compute networks create "$NETWORK" --project="$PROJECT" --subnet-mode=custom
    fi
    step "subnet $SUBNET ($SUBNET_RANGE in $REGION)"
    if exists compute networks subnets describe "$SUBNET" --region="$REGION" --project="$PROJECT"; then
        note "exists"
    else
        gcloud_change compute networks subnets create "$SUBNET" --project="$PROJECT" \
            --region="$REGION" --network="$NETWORK" --range="$SUBNET_RANGE"
    fi
}

ensure_address() {
    step "static external IP $ADDRESS_NAME ($REGION)"
    if exists compute addresses describe "$ADDRESS_NAME" --region="$REGION" --project="$PROJECT"; then
        note "exists"
        return
    fi
    gcloud_change compute addresses create "$ADDRESS_NAME" --project="$PROJECT" --region="$REGION"
}

# ensure_firewall NAME RULES SOURCE-RANGES DESCRIPTION
ensure_firewall() {
    local name=$1 rules=$2 ranges=$3 description=$4 current
    step "firewall $name: $rules from $ranges to tag $NETWORK_TAG"
    if current=$(gcloud_query compute firewall-rules describe "$name" --project="$PROJECT" \
        --format='value(sourceRanges.list())'); then
        if [[ $(sorted_csv "$current") == $(sorted_csv "$ranges") ]]; then
            note "exists"
        else
            note "source ranges were $current: updating"
            gcloud_change compute firewall-rules update "$name" --project="$PROJECT" \
                --source-ranges="$ranges"
        fi
        return
    fi
    gcloud_change compute firewall-rules create "$name" --project="$PROJECT" \
        --network="$NETWORK" --direction=INGRESS --action=ALLOW --rules="$rules" \
        --source-ranges="$ranges" --target-tags="$NETWORK_TAG" --description="$description"
}

sorted_csv() {
    tr ',;' '\n\n' <<<"$1" | sed '/^$/d' | sort -u | paste -sd, -
}

ensure_firewalls() {
    ensure_firewall "$FW_GATEWAY" "tcp:50051,tcp:8443" "$GATEWAY_CIDRS" \
        "Sealpay gateway -> payment TEE (gRPC mTLS 50051, attestation 8443)"
    if [[ -n $OPERATOR_CIDRS ]]; then
        ensure_firewall "$FW_OPERATOR" "tcp:8443" "$OPERATOR_CIDRS" \
            "operators -> payment TEE attestation (8443) only"
    fi
    if ((ALLOW_IAP_SSH)); then
        ensure_firewall "$FW_IAP_SSH" "tcp:22" "$IAP_RANGE" "SSH through Identity-Aware Proxy"
    fi
}

ensure_instance() {
    step "instance $INSTANCE ($MACHINE_TYPE, SEV-SNP, $ZONE)"
    local current_image
    if current_image=$(gcloud_query compute instances describe "$INSTANCE" --zone="$ZONE" \
        --project="$PROJECT" --format='value(metadata.items.sealpay-image)'); then
        if [[ $current_image == "$IMAGE_URL" ]]; then
            note "exists, runs $IMAGE_URL"
        else
            note "exists, runs $current_image: switching its image metadata to $IMAGE_URL"
            gcloud_change compute instances add-metadata "$INSTANCE" --zone="$ZONE" \
                --project="$PROJECT" --metadata="sealpay-image=$IMAGE_URL"
            note "the VM pulls it at its next boot: gcloud compute instances reset $INSTANCE --zone=$ZONE --project=$PROJECT"
        fi
        return
    fi
    gcloud_change compute instances create "$INSTANCE" --project="$PROJECT" --zone="$ZONE" \
        --machine-type="$MACHINE_TYPE" \
        --confidential-compute-type=SEV_SNP \
        --min-cpu-platform="AMD Milan" \
        --maintenance-policy=TERMINATE \
        --shielded-secure-boot --shielded-vtpm --shielded-integrity-monitoring \
        --image-family="$IMAGE_FAMILY" --image-project="$IMAGE_PROJECT" \
        --boot-disk-size="$BOOT_DISK_SIZE" --boot-disk-type=pd-balanced \
        --subnet="$SUBNET" --address="$ADDRESS_NAME" \
        --tags="$NETWORK_TAG" \
        --service-account="$SA_EMAIL" --scopes=cloud-platform \
        --metadata="sealpay-image=$IMAGE_URL,enable-oslogin=TRUE,block-project-ssh-keys=TRUE" \
        --metadata-from-file="startup-script=$STARTUP_SCRIPT" \
        --labels=app=sealpay,component=payment-tee
}

summary() {
    local ip
    ip=$(gcloud_query compute addresses describe "$ADDRESS_NAME" --region="$REGION" \
        --project="$PROJECT" --format='value(address)') || ip="<the address of $ADDRESS_NAME>"
    step "done"
    note "PAYMENT_TEE_TARGET=$ip:50051"
    note "attestation: https://$ip:8443/attestation?nonce=<hex>"
    note "boot log: gcloud compute instances get-serial-port-output $INSTANCE --zone=$ZONE --project=$PROJECT"
}

main() {
    parse_args "$@"
    validate
    derive_names
    ((DRY_RUN)) && step "dry run: printing the gcloud commands, running none"
    ensure_apis
    check_boot_image
    ensure_service_account
    ensure_secrets
    ensure_image_access
    ensure_network
    ensure_address
    ensure_firewalls
    ensure_instance
    summary
}

main "$@"
