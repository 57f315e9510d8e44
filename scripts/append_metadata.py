#!/usr/bin/env python3
"""Turn a shared library into a loadable DuckDB extension by appending the metadata footer.

Same bytes as DuckDB's extension-ci-tools `scripts/append_extension_metadata.py`
(and duckdb's `scripts/append_metadata.cmake`). Appended after the library (534 bytes):

    22 bytes   WebAssembly custom-section header, so Wasm builds stay valid:
               0x00 (custom section id), 0x93 0x04 (LEB128 531 = size of what follows),
               0x10 (LEB128 16 = name length), b"duckdb_signature",
               0x80 0x04 (LEB128 512 = payload length)
    256 bytes  metadata: eight 32-byte NUL-padded ASCII fields in REVERSE order,
               so the field written last is field 0:
                 7, 6, 5: empty
                 4: ABI type           (C_STRUCT for C API extensions)
                 3: extension version
                 2: DuckDB version     (for C_STRUCT: the minimum C API version, e.g. v1.2.0)
                 1: platform           (e.g. linux_amd64)
                 0: magic              "4"
    256 bytes  signature: zeros (unsigned; load with allow_unsigned_extensions)

DuckDB's loader reads the last 512 bytes (metadata + signature).

Usage:
    append_metadata.py --input target/release/libsysmon.so \\
        --output build/release/sysmon.duckdb_extension --platform linux_amd64 \\
        --duckdb-capi-version v1.2.0 [--extension-version v0.1.0]

Also a module: `footer()` gives the bytes to append, `FOOTER_SIZE` their length.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

from version import extension_version as default_version

FIELD_SIZE = 32
SIGNATURE_SIZE = 256
MAGIC = "4"
ABI_TYPE = "C_STRUCT"

# Custom section id 0, section size 531 (= 1 + 16 + 2 + 8*32 + 256), name length 16,
# the name, then the payload length 512 (= 8*32 + 256); sizes are unsigned LEB128.
SECTION_HEADER = b"\x00" + b"\x93\x04" + b"\x10" + b"duckdb_signature" + b"\x80\x04"
assert len(SECTION_HEADER) == 22

def field(value: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) > FIELD_SIZE or b"\x00" in raw:
        raise ValueError(f"metadata field {value!r} must be at most {FIELD_SIZE} ASCII bytes")
    return raw.ljust(FIELD_SIZE, b"\x00")


def footer(platform: str, capi_version: str, extension_version: str) -> bytes:
    fields = [MAGIC, platform, capi_version, extension_version, ABI_TYPE, "", "", ""]
    metadata = b"".join(field(f) for f in reversed(fields))
    return SECTION_HEADER + metadata + b"\x00" * SIGNATURE_SIZE


FOOTER_SIZE = len(SECTION_HEADER) + 8 * FIELD_SIZE + SIGNATURE_SIZE


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, type=Path, help="shared library from cargo")
    p.add_argument("--output", required=True, type=Path, help="the .duckdb_extension to write")
    p.add_argument("--platform", required=True, help="DuckDB platform, e.g. linux_amd64")
    p.add_argument("--duckdb-capi-version", required=True, help="minimum C API version, e.g. v1.2.0")
    p.add_argument("--extension-version", default=None, help="default: scripts/version.py")
    args = p.parse_args()

    if args.output.name != "sysmon.duckdb_extension":
        # DuckDB derives the init symbol (sysmon_init_c_api) from the file name.
        print(f"warning: output name {args.output.name!r} is not sysmon.duckdb_extension", file=sys.stderr)
    version = args.extension_version or default_version()
    tail = footer(args.platform, args.duckdb_capi_version, version)
    library = args.input.read_bytes()
    if not library.startswith(b"\x7fELF") and not library.startswith(b"\xcf\xfa\xed\xfe") \
            and not library.startswith(b"MZ"):
        print(f"warning: {args.input} does not look like a shared library", file=sys.stderr)

    # Write next to the destination, then rename: readers never see a half-written file.
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.output.parent, prefix=args.output.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(library)
            f.write(tail)
        os.chmod(tmp, 0o755)
        os.replace(tmp, args.output)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"{args.output}: platform={args.platform} capi={args.duckdb_capi_version} "
          f"version={version} abi={ABI_TYPE} ({len(library) + len(tail)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
