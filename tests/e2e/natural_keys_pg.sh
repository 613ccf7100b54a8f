#!/usr/bin/env bash
# natural_keys.sh with a PostgreSQL center (on $XCHG_PG_HOST) and SQLite desktops.
XCHG_E2E_CENTER=pg exec bash "$(dirname "$0")/natural_keys.sh" "$@"
