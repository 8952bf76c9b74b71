"""Generate the Python for protos/ into services/protos/ (or check it is current).

    python scripts/gen_protos.py          # regenerate (make proto)
    python scripts/gen_protos.py --check  # exit 1 if the committed code drifted

The .proto files live under protos/; `-Iservices/protos=protos` maps them so
that the generated modules import each other as `services.protos.…`.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[1]
PROTO_ROOT = REPO / "protos"
OUT_PACKAGE = Path("services/protos")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every .proto; returns the generated files, relative to out_dir."""
    protos = sorted(p.relative_to(PROTO_ROOT) for p in PROTO_ROOT.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{OUT_PACKAGE}={PROTO_ROOT}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(OUT_PACKAGE / p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = [p.relative_to(out_dir) for p in out_dir.rglob("*.py*") if p.is_file()]
    packages = {OUT_PACKAGE}
    for path in generated:  # every directory from services/protos down is a package
        packages.update(d for d in path.parents if OUT_PACKAGE in (d, *d.parents))
    for package in packages:
        (out_dir / package / "__init__.py").write_text("")
        generated.append(package / "__init__.py")
    return sorted(set(generated))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        files = generate(out)
        drifted = [
            f
            for f in files
            if not (REPO / f).exists() or not filecmp.cmp(out / f, REPO / f, shallow=False)
        ]
        if args.check:
            for f in drifted:
                print(f"drifted: {f}", file=sys.stderr)
            return 1 if drifted else 0
        for f in files:
            target = REPO / f
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((out / f).read_bytes())
        print(f"generated {len(files)} files under {OUT_PACKAGE}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
