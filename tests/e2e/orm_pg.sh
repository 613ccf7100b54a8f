#!/usr/bin/env bash
# orm.sh's scenarios with a PostgreSQL center (on $XCHG_PG_HOST): native uuid and timestamptz.
XCHG_E2E_CENTER=pg exec bash "$(dirname "$0")/orm.sh" "$@"
