"""Reads a CSV view from the mount and the same bytes exported to a plain file
with pandas and prints, as JSON, whether the frames are equal plus their shape.

Usage: /usr/bin/python3 pandas_check.py MOUNTED.csv EXPORTED.csv
"""
import json
import sys

import pandas as pd


def main() -> int:
    mounted, exported = sys.argv[1], sys.argv[2]
    a = pd.read_csv(mounted)
    b = pd.read_csv(exported)
    equal = True
    reason = ""
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError as e:
        equal, reason = False, str(e)
    print(json.dumps({
        "rows": int(len(a)),
        "columns": [str(c) for c in a.columns],
        "equal": equal,
        "reason": reason,
        "tail_close": float(a["close"].iloc[-1]) if len(a) and "close" in a else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
