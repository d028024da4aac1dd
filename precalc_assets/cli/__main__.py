"""`python -m precalc_assets.cli`: the `precalc` command."""

from precalc_assets.cli import main

main()
