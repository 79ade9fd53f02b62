"""The valuation worker, run as a subprocess: JSON lines in, JSON lines out.

Each input line ``{"sku": ..., "quantity": ..., "unit_price": ...}`` is answered at once with
``{"sku": ..., "value": "<quantity * unit_price>"}``. The worker exits 0 at end of input, and 2
(with the reason on stderr) at the first bad record.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal


def main() -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            value = Decimal(str(record["unit_price"])) * int(record["quantity"])
        except (ValueError, KeyError, ArithmeticError) as exc:
            print(f"bad record {line.strip()!r}: {exc!r}", file=sys.stderr)
            return 2
        print(json.dumps({"sku": record["sku"], "value": str(value)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
