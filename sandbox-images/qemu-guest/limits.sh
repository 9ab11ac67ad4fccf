# Run a script as the unprivileged guest user with the job's rlimits (as root, before su).
ulimit -t "$KBS_CPU" -u "$KBS_NPROC" -v "$KBS_AS_KB" -f "$KBS_FSIZE_BLOCKS" -n "$KBS_NOFILE" -c 0
exec su -p -s /bin/sh kbs -c '. /kbs/env.sh; exec sh "$0"' "$1"
