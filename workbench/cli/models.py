"""``workbench models fetch|list``: resolve and verify model files."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="fetch or list model files",
        description="Resolve model files into the cache, verified by sha256.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    fetch = sub.add_parser("fetch", help="resolve every model file (or the ones named)")
    fetch.add_argument("names", nargs="*", help="asset names (default: all)")
    fetch.set_defaults(func=run_fetch)
    lst = sub.add_parser("list", help="list known model files and whether they are cached")
    lst.set_defaults(func=run_list)


def run_fetch(args: argparse.Namespace) -> int:
    from workbench import assets

    names = args.names or list(assets.ASSETS)
    for name in names:
        path = assets.asset_path(name)
        print(f"{name}: {path}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from workbench import assets

    for name, asset in assets.ASSETS.items():
        cached = (assets.cache_dir() / asset.filename).exists()
        state = "cached" if cached else "not cached"
        print(f"{name:30s} {state:11s} {asset.description}")
    return 0
