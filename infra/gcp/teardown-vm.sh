#!/usr/bin/env bash
# Delete what infra/gcp/setup-vm.sh created: the VM, its firewall rules, static IP,
# subnet and network, its secrets, its image pull grant and its service account.
#
#   infra/gcp/teardown-vm.sh --project ID [--image-url IMAGE] [options] (--yes | --dry-run)
#
# Idempotent: each resource is described first and only deleted if it is there, so a
# second run (or a run against an empty project) deletes nothing. --dry-run prints every
# gcloud command as "+ gcloud ..." and runs none.
#
# Before you run it, the gateway must not depend on the TEE: PAYMENT_VIA_TEE=false on
# Railway (infra/gcp/CUTOVER.md, "Rollback" and "Teardown"). The Artifact Registry
# repository and its images are kept: they are the record of what ran.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/gcp/lib.sh
source "$SCRIPT_DIR/lib.sh"

ASSUME_YES=0
DRY_RUN_FINDS=1 # a dry run shows the delete of everything setup-vm.sh can create

usage() {
    cat <<EOF
usage: infra/gcp/teardown-vm.sh --project ID [options] (--yes | --dry-run)

  --project ID         GCP project (or CLOUDSDK_CORE_PROJECT)
  --region REGION      [$REGION] (or CLOUDSDK_COMPUTE_REGION)
  --zone ZONE          [$ZONE] (or CLOUDSDK_COMPUTE_ZONE)
  --instance NAME      [$INSTANCE] (also names the address, rules, secrets, account)
  --network NAME       [$NETWORK]
  --subnet NAME        [$SUBNET]
  --image-url IMAGE    the image setup-vm.sh was given; when it is in Artifact Registry,
                       the service account's reader grant on that repository is removed
  --yes                really delete (required unless --dry-run)
  --dry-run            print the gcloud commands ("+ gcloud ...") and run none
  -h, --help           this help
EOF
}

parse_args() {
    normalize_flags "$@"
    set -- ${NORMALIZED[@]+"${NORMALIZED[@]}"}
    while (($#)); do
        case $1 in
        --project) PROJECT=$(flag_value "$@"); shift 2 ;;
        --region) REGION=$(flag_value "$@"); shift 2 ;;
        --zone) ZONE=$(flag_value "$@"); shift 2 ;;
        --instance) INSTANCE=$(flag_value "$@"); shift 2 ;;
        --network) NETWORK=$(flag_value "$@"); shift 2 ;;
        --subnet) SUBNET=$(flag_value "$@"); shift 2 ;;
        --image-url) IMAGE_URL=$(flag_value "$@"); shift 2 ;;
        --yes) ASSUME_YES=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
        esac
    done
}

validate() {
    validate_common
    if ! ((DRY_RUN || ASSUME_YES)); then
        die "teardown deletes the payment TEE VM and its secrets; pass --yes (or --dry-run first)"
    fi
}

# delete_if_exists LABEL DESCRIBE-ARGS... -- DELETE-ARGS...
delete_if_exists() {
    local label=$1
    shift
    local describe=() delete=()
    while (($#)) && [[ $1 != -- ]]; do
        describe+=("$1")
        shift
    done
    shift
    delete=("$@")
    step "$label"
    if exists "${describe[@]}"; then
        gcloud_change "${delete[@]}" --quiet
    else
        note "not there"
    fi
}

delete_instance() {
    delete_if_exists "instance $INSTANCE ($ZONE), with its boot disk" \
        compute instances describe "$INSTANCE" --zone="$ZONE" --project="$PROJECT" -- \
        compute instances delete "$INSTANCE" --zone="$ZONE" --project="$PROJECT" --delete-disks=all
}

delete_firewalls() {
    local rule
    for rule in "$FW_GATEWAY" "$FW_OPERATOR" "$FW_IAP_SSH"; do
        delete_if_exists "firewall rule $rule" \
            compute firewall-rules describe "$rule" --project="$PROJECT" -- \
            compute firewall-rules delete "$rule" --project="$PROJECT"
    done
}

delete_network() {
    delete_if_exists "static IP $ADDRESS_NAME" \
        compute addresses describe "$ADDRESS_NAME" --region="$REGION" --project="$PROJECT" -- \
        compute addresses delete "$ADDRESS_NAME" --region="$REGION" --project="$PROJECT"
    delete_if_exists "subnet $SUBNET" \
        compute networks subnets describe "$SUBNET" --region="$REGION" --project="$PROJECT" -- \
        compute networks subnets delete "$SUBNET" --region="$REGION" --project="$PROJECT"
    delete_if_exists "network $NETWORK" \
        compute networks describe "$NETWORK" --project="$PROJECT" -- \
        compute networks delete "$NETWORK" --project="$PROJECT"
}

# The secrets go with their IAM bindings; the operator keeps the source files
# (.data/mtls-prod/, the DATABASE_URL and LEDGER_AUDIT_KEY files) to recreate them.
delete_secrets() {
    local suffix name
    for suffix in "${SECRET_SUFFIXES[@]}"; do
        name=$(secret_name "$suffix")
        delete_if_exists "secret $name" \
            secrets describe "$name" --project="$PROJECT" -- \
            secrets delete "$name" --project="$PROJECT"
    done
}

revoke_image_access() {
    if [[ -z $IMAGE_URL ]] || ! parse_artifact_registry; then
        return
    fi
    step "image pull grant on $AR_PROJECT/$AR_LOCATION/$AR_REPO"
    if has_image_access; then
        gcloud_change artifacts repositories remove-iam-policy-binding "$AR_REPO" \
            --location="$AR_LOCATION" --project="$AR_PROJECT" \
            --member="$SA_MEMBER" --role="$AR_READER_ROLE" --condition=None
    else
        note "not there"
    fi
}

delete_service_account() {
    delete_if_exists "service account $SA_EMAIL" \
        iam service-accounts describe "$SA_EMAIL" --project="$PROJECT" -- \
        iam service-accounts delete "$SA_EMAIL" --project="$PROJECT"
}

main() {
    parse_args "$@"
    validate
    derive_names
    ((DRY_RUN)) && step "dry run: printing the gcloud commands, running none"
    # The instance first: it holds the address, uses the subnet and runs as the account.
    delete_instance
    delete_firewalls
    delete_network
    delete_secrets
    revoke_image_access
    delete_service_account
    step "done"
}

main "$@"
