#!/usr/bin/env bash
# subsets.sh with a PostgreSQL center (on $XCHG_PG_HOST) and SQLite desktops.
XCHG_E2E_CENTER=pg exec bash "$(dirname "$0")/subsets.sh" "$@"
