"""`python -m parlay_monitoring.dashboard [DB_URL_OR_RUN_DIR] [--host H] [--port P]`: as `parlay dashboard`."""

import argparse
import sys

from parlay_monitoring.dashboard.cli import add_dashboard_command

parser = argparse.ArgumentParser(prog="python -m parlay_monitoring.dashboard")
add_dashboard_command(parser.add_subparsers(dest="command"))
args = parser.parse_args(["dashboard", *sys.argv[1:]])
sys.exit(args.func(args))
