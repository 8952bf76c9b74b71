# shellcheck shell=bash
# Shared by setup-vm.sh and teardown-vm.sh (sourced, never run on its own).
#
# Every gcloud call goes through one of two functions, so --dry-run can print the
# whole plan and run nothing:
#
#   gcloud_change ARGS...   a call that changes something: printed, then run
#                           (in a dry run: printed only)
#   gcloud_query ARGS...    a read (describe, list, get-iam-policy): printed, then run
#                           with its stdout returned. In a dry run it is printed only and
#                           answers as DRY_RUN_FINDS says: setup assumes nothing exists
#                           (the plan shows every create), teardown assumes everything
#                           does (the plan shows every delete).
#
# The plan goes to file descriptor 3 (the script's stdout), one command per line,
# prefixed "+ gcloud ", quoted so a line can be pasted into a shell. Progress and
# notes go to stderr. Queries run inside $(...) therefore never swallow plan lines.

DRY_RUN=0
DRY_RUN_FINDS=0
exec 3>&1

# Defaults shared by both scripts; flags override them.
REGION="${CLOUDSDK_COMPUTE_REGION:-us-central1}"
ZONE="${CLOUDSDK_COMPUTE_ZONE:-us-central1-a}"
PROJECT="${CLOUDSDK_CORE_PROJECT:-}"
INSTANCE="sealpay-payment-tee"
NETWORK="sealpay-tee-net"
SUBNET="sealpay-tee-subnet"
NETWORK_TAG="sealpay-payment-tee"
IMAGE_URL=""

# The secrets the VM's startup script reads, as "<suffix>:<what>"; the secret is
# named "<instance>-<suffix>" (infra/gcp/startup.sh derives the same names).
SECRET_SUFFIXES=(tls-cert tls-key client-ca database-url ledger-audit-key)

die() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

step() {
    printf '==> %s\n' "$*" >&2
}

note() {
    printf '    %s\n' "$*" >&2
}

# Quote one argument for display: bare when it is made of harmless characters,
# single-quoted otherwise.
quote_arg() {
    if [[ $1 =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

show_gcloud() {
    local line="+ gcloud" arg
    for arg in "$@"; do
        line+=" $(quote_arg "$arg")"
    done
    printf '%s\n' "$line" >&3
}

gcloud_change() {
    show_gcloud "$@"
    if ((DRY_RUN)); then
        return 0
    fi
    gcloud "$@" >&2
}

gcloud_query() {
    show_gcloud "$@"
    if ((DRY_RUN)); then
        ((DRY_RUN_FINDS))
        return
    fi
    gcloud "$@" 2>/dev/null
}

# exists GCLOUD-DESCRIBE-ARGS...: whether the resource is there.
exists() {
    gcloud_query "$@" --format='value(name)' >/dev/null
}

# The value after a flag, refusing a missing one ("--project --zone x").
flag_value() {
    local flag=$1
    shift
    if (($# == 0)) || [[ $1 == --* ]]; then
        die "$flag needs a value"
    fi
    printf '%s' "$1"
}

# Split "--flag=value" into "--flag" "value" so the parsers handle one form.
normalize_flags() {
    local arg
    NORMALIZED=()
    for arg in "$@"; do
        if [[ $arg == --*=* ]]; then
            NORMALIZED+=("${arg%%=*}" "${arg#*=}")
        else
            NORMALIZED+=("$arg")
        fi
    done
}

validate_common() {
    [[ -n $PROJECT ]] || die "--project is required (or set CLOUDSDK_CORE_PROJECT)"
    [[ $PROJECT =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || die "--project: '$PROJECT' is not a GCP project id"
    [[ $ZONE == "$REGION"-* ]] || die "--zone $ZONE is not in --region $REGION"
    [[ $INSTANCE =~ ^[a-z][a-z0-9-]{5,29}$ ]] ||
        die "--instance must be 6-30 lowercase letters, digits or dashes (it also names the service account)"
    if ! ((DRY_RUN)) && ! command -v gcloud >/dev/null; then
        die "gcloud is not on PATH (install the Google Cloud CLI, or use --dry-run)"
    fi
}

# Names derived from the instance name, identical in setup and teardown.
derive_names() {
    ADDRESS_NAME="${INSTANCE}-ip"
    FW_GATEWAY="${INSTANCE}-allow-gateway"
    FW_OPERATOR="${INSTANCE}-allow-operator"
    FW_IAP_SSH="${INSTANCE}-allow-iap-ssh"
    SA_ID="${INSTANCE}"
    SA_EMAIL="${SA_ID}@${PROJECT}.iam.gserviceaccount.com"
    SA_MEMBER="serviceAccount:${SA_EMAIL}"
}

secret_name() {
    printf '%s-%s' "$INSTANCE" "$1"
}

# When IMAGE_URL is in Artifact Registry (LOCATION-docker.pkg.dev/PROJECT/REPO/...),
# sets AR_LOCATION, AR_PROJECT, AR_REPO and succeeds; fails for other registries.
parse_artifact_registry() {
    local re='^([a-z0-9-]+)-docker\.pkg\.dev/([a-z0-9-]+)/([a-z0-9._-]+)/'
    if [[ $IMAGE_URL =~ $re ]]; then
        AR_LOCATION=${BASH_REMATCH[1]}
        AR_PROJECT=${BASH_REMATCH[2]}
        AR_REPO=${BASH_REMATCH[3]}
        return 0
    fi
    return 1
}

AR_READER_ROLE="roles/artifactregistry.reader"

# Whether the VM's service account may pull from the image's repository.
has_image_access() {
    local role
    role=$(gcloud_query artifacts repositories get-iam-policy "$AR_REPO" \
        --location="$AR_LOCATION" --project="$AR_PROJECT" \
        --flatten='bindings[].members' \
        --filter="bindings.role=$AR_READER_ROLE AND bindings.members:$SA_EMAIL" \
        --format='value(bindings.role)') || return 1
    ((DRY_RUN)) && return 0 # only teardown's dry run gets here: it assumes the grant
    [[ -n $role ]]
}
