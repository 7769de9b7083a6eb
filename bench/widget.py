"""The storefront chat widget's weight: its JS and CSS, minified as shipped and gzipped.

    python bench/widget.py

Reads the theme app extension's assets (what Shopify's CDN serves), gzips them at level 9 as
a CDN would, and checks that nothing in them loads from another origin. Budget (DESIGN
section 11): <= 8 KB gzipped JS+CSS and no third-party requests. The baseline is the raw
(uncompressed) size, for the compression ratio.
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _results import record  # noqa: E402

ASSETS = REPO / "extensions" / "taskra-chat" / "assets"
BUDGET = 8 * 1024
# A URL with a scheme or a protocol-relative one: anything that could reach another origin.
OUTSIDE = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


def main() -> None:
    files = sorted([*ASSETS.glob("*.js"), *ASSETS.glob("*.css")])
    raw = b"".join(f.read_bytes() for f in files)
    zipped = sum(len(gzip.compress(f.read_bytes(), compresslevel=9)) for f in files)
    outside = sorted({m.group(0) for f in files for m in OUTSIDE.finditer(f.read_text())})
    print(f"\nchat widget ({', '.join(f.name for f in files)})")
    print(f"raw {len(raw):,} bytes; gzipped {zipped:,} bytes (budget {BUDGET:,})")
    print(f"references to other origins: {outside or 'none'}")
    record(
        "widget",
        "chat widget JS+CSS, gzipped",
        zipped / 1024,
        "KB",
        budget="<= 8 KB, no third-party requests",
        met=zipped <= BUDGET and not outside,
        baseline=len(raw) / 1024,
        baseline_label="the same files uncompressed, KB",
    )


if __name__ == "__main__":
    main()
