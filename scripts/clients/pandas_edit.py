"""Edits a CSV view in a mount with pandas, as a user's script would.

Usage: /usr/bin/python3 pandas_edit.py MODE FILE ...
  rewrite FILE TS CLOSE EXTRA.csv  read FILE, set close of the row at
                                   timestamp TS, add the rows of EXTRA.csv,
                                   write FILE back with to_csv
  append FILE EXTRA.csv            to_csv(FILE, mode="a", header=False) of
                                   the rows of EXTRA.csv
Prints the number of rows pandas wrote.
"""
import sys

import pandas as pd


def main() -> int:
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "rewrite":
        ts, close, extra = sys.argv[3], float(sys.argv[4]), sys.argv[5]
        df = pd.read_csv(path)
        hit = df["timestamp"] == ts
        if hit.sum() != 1:
            print(f"{hit.sum()} rows at {ts}", file=sys.stderr)
            return 1
        df.loc[hit, "close"] = close
        df = pd.concat([df, pd.read_csv(extra)], ignore_index=True)
        df.to_csv(path, index=False)
        print(len(df))
    elif mode == "append":
        extra = pd.read_csv(sys.argv[3])
        extra.to_csv(path, mode="a", header=False, index=False)
        print(len(extra))
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
