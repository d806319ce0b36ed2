#!/bin/sh
# The image's entrypoint. No arguments, or `serve ...`: bring the schema up to date, then serve
# (exec, so the server is PID 1 and gets `docker stop`'s SIGTERM); it serves only if the
# migration succeeded. Anything else is one pdvault command for a one-off container:
#   docker compose run --rm pdvault keys create
#   docker compose run --rm pdvault init --json
set -eu
if [ "${1:-}" = "pdvault" ]; then
    shift  # `docker compose run --rm pdvault pdvault init` spells the program out: same thing
fi
if [ "$#" -eq 0 ]; then
    set -- serve
fi
if [ "$1" = "serve" ]; then
    pdvault migrate
fi
exec pdvault "$@"
