"""`python -m fastlink SRC DST ...`: the same as the `fastlink` command."""

from fastlink._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
