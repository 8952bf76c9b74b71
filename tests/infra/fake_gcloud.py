"""A stand-in `gcloud` for the setup/teardown script tests: records argv, keeps state.

Installed by the tests as an executable named `gcloud` at the front of PATH. It
understands exactly the command shapes infra/gcp/setup-vm.sh and teardown-vm.sh
use, answers `describe`/`list`/`get-iam-policy`/`versions access` from a JSON
state file, and applies `create`/`delete`/`add`/`update` to it, failing the way
gcloud does (exit 1) on a missing or duplicate resource. Every call is appended
to a JSON-lines log, so a test can assert what ran, and what did not.

Environment: FAKE_GCLOUD_STATE (JSON file, created if absent), FAKE_GCLOUD_LOG.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

FAKE_ADDRESS = "203.0.113.10"
VERBS = (
    "describe-from-family",
    "describe",
    "create",
    "delete",
    "list",
    "enable",
    "add",
    "access",
    "get-iam-policy",
    "add-iam-policy-binding",
    "remove-iam-policy-binding",
    "update",
    "add-metadata",
)


def load_state(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"resources": {}, "enabled_apis": [], "bindings": [], "versions": {}}


def split_args(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    positionals, flags = [], {}
    for arg in argv:
        if arg.startswith("--"):
            key, _, value = arg.partition("=")
            flags[key] = value
        else:
            positionals.append(arg)
    return positionals, flags


def fail(message: str) -> int:
    print(f"ERROR: (gcloud) {message}", file=sys.stderr)
    return 1


def metadata_items(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


def render(fields: dict, name: str, fmt: str) -> str:
    if fmt == "value(address)":
        return fields.get("address", "")
    if fmt == "value(sourceRanges.list())":
        return fields.get("--source-ranges", "")
    if fmt == "value(metadata.items.sealpay-image)":
        return metadata_items(fields.get("--metadata", "")).get("sealpay-image", "")
    return name


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    state_path = Path(os.environ["FAKE_GCLOUD_STATE"])
    state = load_state(state_path)
    status = dispatch(state, argv)
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
    return status


def dispatch(state: dict, argv: list[str]) -> int:
    positionals, flags = split_args(argv)
    verb_at = next(i for i, word in enumerate(positionals) if word in VERBS)
    group, verb, rest = positionals[:verb_at], positionals[verb_at], positionals[verb_at + 1 :]
    project = flags.get("--project", "")
    resources = state["resources"]

    if group == ["services"]:
        if verb == "list":
            print("\n".join(state["enabled_apis"]))
        else:
            state["enabled_apis"] = sorted({*state["enabled_apis"], *rest})
        return 0
    if verb == "describe-from-family":
        print(state.get("image_features", "UEFI_COMPATIBLE;SEV_SNP_CAPABLE;GVNIC"))
        return 0
    if group == ["secrets", "versions"]:
        secret = flags["--secret"] if verb == "access" else rest[0]
        if f"secrets|{secret}" not in resources:
            return fail(f"NOT_FOUND: secret {secret}")
        if verb == "add":
            state["versions"].setdefault(secret, []).append(Path(flags["--data-file"]).read_text())
            return 0
        versions = state["versions"].get(secret)
        if not versions:
            return fail(f"NOT_FOUND: no version of {secret}")
        Path(flags["--out-file"]).write_text(versions[-1])
        return 0

    name = rest[0]
    if group == ["iam", "service-accounts"] and verb == "create":
        name = f"{name}@{project}.iam.gserviceaccount.com"
    key = "|".join([*group, name])

    if verb == "get-iam-policy":
        role = re.search(r"bindings\.role=(\S+)", flags["--filter"]).group(1)
        email = re.search(r"bindings\.members:(\S+)", flags["--filter"]).group(1)
        if any(b == f"{key}|serviceAccount:{email}|{role}" for b in state["bindings"]):
            print(role)
        return 0
    if verb in ("add-iam-policy-binding", "remove-iam-policy-binding"):
        binding = f"{key}|{flags['--member']}|{flags['--role']}"
        if verb.startswith("add"):
            state["bindings"] = sorted({*state["bindings"], binding})
        elif binding in state["bindings"]:
            state["bindings"].remove(binding)
        else:
            return fail(f"NOT_FOUND: binding {binding}")
        return 0

    if verb == "create":
        if key in resources:
            return fail(f"ALREADY_EXISTS: {key}")
        fields = dict(flags)
        if group == ["compute", "addresses"]:
            fields["address"] = FAKE_ADDRESS
        resources[key] = fields
        return 0
    if key not in resources:
        return fail(f"NOT_FOUND: {key}")
    if verb == "describe":
        print(render(resources[key], name, flags.get("--format", "")))
    elif verb == "delete":
        del resources[key]
        if group == ["secrets"]:
            state["versions"].pop(name, None)
            state["bindings"] = [b for b in state["bindings"] if not b.startswith(key + "|")]
    elif verb == "update":
        resources[key].update({k: v for k, v in flags.items() if k != "--project"})
    elif verb == "add-metadata":
        items = metadata_items(resources[key].get("--metadata", ""))
        items.update(metadata_items(flags["--metadata"]))
        resources[key]["--metadata"] = ",".join(f"{k}={v}" for k, v in items.items())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
