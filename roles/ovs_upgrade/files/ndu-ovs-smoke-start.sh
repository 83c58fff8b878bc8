#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# ndu.dataplane ovs_upgrade: start the installed ovsdb-server and ovs-vswitchd
# once, away from the running switch, to prove the new build starts before
# anything switches over to it.
#
# The test daemons run in a private network namespace (so no datapath or
# device of the host is visible to them) with their own database, sockets,
# PID files and logs in a temporary directory. They must start, ovs-vswitchd
# must answer on its control socket and apply one database change (ovs-vsctl
# waits for ovs-vswitchd to catch up unless told --no-wait); then both
# are stopped and the directory is removed. Exit 0 on success; otherwise the
# last lines of the failing daemon's output are printed to stderr.
set -u

if [ "${NDU_SMOKE_IN_NETNS:-}" != 1 ]; then
    exec env NDU_SMOKE_IN_NETNS=1 unshare --net -- /bin/sh "$0" "$@"
fi

dir=$(mktemp -d /tmp/ndu-ovs-smoke.XXXXXX) || exit 1
export OVS_RUNDIR="$dir" OVS_LOGDIR="$dir" OVS_DBDIR="$dir"
db="unix:$dir/db.sock"

stop() {
    for daemon in ovs-vswitchd ovsdb-server; do
        if [ -f "$dir/$daemon.pid" ]; then
            kill "$(cat "$dir/$daemon.pid")" 2>/dev/null
        fi
    done
    sleep 0.2
    rm -rf "$dir"
}
trap stop EXIT

fail() {
    echo "$1" >&2
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
        tail -n 5 "$2" >&2
    fi
    exit 1
}

schema=/usr/share/openvswitch/vswitch.ovsschema
ovsdb-tool create "$dir/conf.db" "$schema" >"$dir/tool.out" 2>&1 ||
    fail "ovsdb-tool could not create a database from $schema" "$dir/tool.out"
ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" --pidfile="$dir/ovsdb-server.pid" \
    --unixctl="$dir/ovsdb-server.ctl" --log-file="$dir/ovsdb-server.log" --no-chdir --detach \
    >"$dir/ovsdb-server.out" 2>&1 ||
    fail "the installed ovsdb-server did not start" "$dir/ovsdb-server.out"
ovs-vsctl --db="$db" --timeout=10 --no-wait init >"$dir/vsctl.out" 2>&1 ||
    fail "ovs-vsctl could not initialise the test database" "$dir/vsctl.out"
ovs-vswitchd "$db" --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
    --log-file="$dir/ovs-vswitchd.log" --no-chdir --detach \
    >"$dir/ovs-vswitchd.out" 2>&1 ||
    fail "the installed ovs-vswitchd did not start" "$dir/ovs-vswitchd.out"
ovs-appctl -t "$dir/ovs-vswitchd.ctl" --timeout=10 version >"$dir/appctl.out" 2>&1 ||
    fail "the installed ovs-vswitchd started but does not answer on its control socket" "$dir/appctl.out"
ovs-vsctl --db="$db" --timeout=10 set Open_vSwitch . external_ids:ndu-smoke=1 >"$dir/vsctl.out" 2>&1 ||
    fail "the installed ovs-vswitchd started but does not apply database changes" "$dir/vsctl.out"
echo "ndu smoke start: $(head -n 1 "$dir/appctl.out") started and applied its database"
