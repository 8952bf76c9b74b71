"""Generate the mutual-TLS material of the gateway ↔ payment_tee link.

    python scripts/gen-mtls.py [--out .data/mtls] [--days 825]
                               [--server-dns NAME]... [--server-ip ADDR]... [--force]
    python scripts/gen-mtls.py --client-only [--ca-dir DIR] [--out DIR] [--force]
    python scripts/gen-mtls.py --server-only [--ca-dir DIR] [--out DIR] [--server-dns ...]

The default mode writes a new CA and the certificates it signs:

    ca.pem ca.key            the CA (keep ca.key offline once you are done issuing)
    server.pem server.key    the payment TEE (TEE_TLS_CERT, TEE_TLS_KEY)
    client.pem client.key    the gateway (PAYMENT_TEE_CLIENT_CERT, PAYMENT_TEE_CLIENT_KEY)

ca.pem is both TEE_CLIENT_CA (the TEE trusts client certificates it signed)
and PAYMENT_TEE_CA (the gateway trusts the TEE's certificate it signed).

--client-only and --server-only issue one more leaf from the CA in --ca-dir
(default: --out), for rotating the gateway's or the TEE's certificate without
touching the other side. Existing files are never overwritten without --force.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# This file's name has a dash, so it is run, never imported; its library is the
# sibling module mtls_material, which tests load directly.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mtls_material as mtls


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gen-mtls.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(".data/mtls"),
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=mtls.DEFAULT_DAYS,
        help="validity of every certificate, in days (default: %(default)s)",
    )
    parser.add_argument(
        "--server-dns",
        action="append",
        metavar="NAME",
        help="DNS SAN of the server certificate; repeatable "
        f"(default: {', '.join(mtls.DEFAULT_SERVER_DNS)})",
    )
    parser.add_argument(
        "--server-ip",
        action="append",
        metavar="ADDR",
        help="IP SAN of the server certificate; repeatable "
        f"(default: {', '.join(mtls.DEFAULT_SERVER_IPS)})",
    )
    parser.add_argument(
        "--client-cn",
        default=mtls.CLIENT_COMMON_NAME,
        help="common name of the client certificate (default: %(default)s)",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--client-only",
        action="store_true",
        help="issue only client.pem/client.key from the existing CA in --ca-dir",
    )
    only.add_argument(
        "--server-only",
        action="store_true",
        help="issue only server.pem/server.key from the existing CA in --ca-dir",
    )
    parser.add_argument(
        "--ca-dir",
        type=Path,
        help="where ca.pem and ca.key are, for --client-only/--server-only (default: --out)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.ca_dir and not (args.client_only or args.server_only):
        parser.error("--ca-dir only makes sense with --client-only or --server-only")
    return args


def say(message: str) -> None:
    print(message, flush=True)


def issue_one(args: argparse.Namespace) -> dict[str, mtls.Issued]:
    """One leaf from an existing CA; its validity never outlives the CA's."""
    ca_dir: Path = args.ca_dir or args.out
    say(f"loading CA from {ca_dir / 'ca.pem'}")
    ca = mtls.load_ca(ca_dir / "ca.pem", ca_dir / "ca.key")
    say(f"  {mtls.describe(ca)}")
    not_before = datetime.now(UTC) - mtls.CLOCK_SKEW
    not_after = not_before + timedelta(days=args.days)
    ca_end = ca.certificate.not_valid_after_utc
    if not_after > ca_end:
        # A leaf outliving its CA would fail verification on the CA's last day anyway.
        if not_after - ca_end > timedelta(days=1):
            say(f"  note: validity capped at the CA's expiry, {ca_end:%Y-%m-%d}")
        not_after = ca_end
    if args.client_only:
        say(f"issuing client certificate CN={args.client_cn} (clientAuth)")
        client = mtls.issue_client(
            ca, common_name=args.client_cn, not_before=not_before, not_after=not_after
        )
        return {"client": client}
    say("issuing server certificate (serverAuth)")
    server = mtls.issue_server(
        ca,
        dns_names=args.server_dns or mtls.DEFAULT_SERVER_DNS,
        ip_addresses=args.server_ip or mtls.DEFAULT_SERVER_IPS,
        not_before=not_before,
        not_after=not_after,
    )
    return {"server": server}


def generate(args: argparse.Namespace) -> dict[str, mtls.Issued]:
    say(f"generating a new CA (ECDSA P-256, {args.days} days)")
    say("issuing server certificate (serverAuth) and client certificate (clientAuth)")
    return mtls.generate_all(
        server_dns=args.server_dns or mtls.DEFAULT_SERVER_DNS,
        server_ips=args.server_ip or mtls.DEFAULT_SERVER_IPS,
        client_common_name=args.client_cn,
        days=args.days,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_only:
        stems = ["client"]
    elif args.server_only:
        stems = ["server"]
    else:
        stems = ["ca", "server", "client"]
    # Refuse before the (slow-ish) key generation, and before loading anything.
    existing = mtls.existing_files(args.out, stems)
    if existing and not args.force:
        for path in existing:
            print(f"error: {path} exists; refusing to overwrite it (use --force)", file=sys.stderr)
        return 1
    try:
        material = issue_one(args) if (args.client_only or args.server_only) else generate(args)
        written = mtls.write_material(args.out, material, force=args.force)
    except mtls.MaterialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for stem, issued in material.items():
        say(f"  {stem}: {mtls.describe(issued)}")
    say(f"wrote {len(written)} files to {args.out} (directory 0700, private keys 0600):")
    for path in written:
        say(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
