"""Delete from an installed tree every first-party module the payment TEE may not import.

    python prune_to_boundary.py SITE_PACKAGES [--dry-run]

The payment_tee image installs the `sealpay-services` and `sealpay` wheels,
which carry the gateway, billing, the SDK's HTTP client and more. The import
guard (`services/payment_tee/guard.py`, `ALLOWED_OWN`) already refuses to
load them at run time; this removes them from the image too, so what ships
into the Confidential VM is what the guard admits and nothing a reviewer has
to wonder about. The allowlist is read from the guard itself: one source of
truth, and a build that fails loudly if the two ever disagree.

Kept: every module inside an allowed prefix, and the `__init__` (plus data
files such as `py.typed`) of the packages above them (`services`,
`services.common`, `sealpay`). Everything else under `services/` and
`sealpay/` goes. Third-party packages are not touched: the Dockerfile
installs only the ones the guard allows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

TOP_LEVEL = ("services", "sealpay")


def allowed_own(site: Path) -> tuple[str, ...]:
    """`ALLOWED_OWN` from the guard in the tree being pruned."""
    sys.path.insert(0, str(site))
    from services.payment_tee.guard import ALLOWED_OWN

    return tuple(ALLOWED_OWN)


def module_name(site: Path, path: Path) -> str:
    """The dotted module a file belongs to; data files belong to their package."""
    relative = path.relative_to(site)
    parts = list(relative.parts)
    if path.suffix == ".py":
        parts[-1] = path.stem
        if parts[-1] == "__init__":
            parts.pop()
    else:
        parts.pop()  # py.typed, *.pyi, *.mako: part of the directory's package
        if path.suffix == ".pyi":
            parts.append(path.stem)
    return ".".join(parts)


def is_kept(name: str, allowed: Iterable[str]) -> bool:
    for own in allowed:
        if name == own or name.startswith(own + "."):
            return True
        if own.startswith(name + "."):  # a package above an allowed module: its __init__
            return True
    return False


def doomed_files(site: Path, allowed: tuple[str, ...]) -> list[Path]:
    doomed: list[Path] = []
    for top in TOP_LEVEL:
        root = site / top
        if not root.is_dir():
            raise SystemExit(f"prune: {root} does not exist; is {site} a site-packages directory?")
        files = (p for p in sorted(root.rglob("*")) if p.is_file())
        doomed += [
            path
            for path in files
            if "__pycache__" not in path.parts and not is_kept(module_name(site, path), allowed)
        ]
    return doomed


def remove(site: Path, doomed: list[Path]) -> None:
    for path in doomed:
        path.unlink()
    # Directories left without any file (and stale bytecode caches) go too.
    for top in TOP_LEVEL:
        for directory in sorted((site / top).rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.name == "__pycache__":
                shutil.rmtree(directory)
            elif directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the site-packages directory to prune")
    parser.add_argument("--dry-run", action="store_true", help="list, do not delete")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    allowed = allowed_own(site)
    doomed = doomed_files(site, allowed)
    for path in doomed:
        print(f"{'would remove' if args.dry_run else 'removed'} {path.relative_to(site)}")
    if not args.dry_run:
        remove(site, doomed)
    print(f"prune: {len(doomed)} files outside the boundary ({', '.join(allowed)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
