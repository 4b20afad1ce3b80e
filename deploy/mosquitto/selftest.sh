#!/usr/bin/env bash
# Checks deploy/mosquitto (mosquitto.conf, acl, entrypoint.sh) against the real mosquitto binary:
# starts a broker on a free loopback port with a temporary copy of the config (only the paths, the
# listener and the $SYS interval changed), runs entrypoint.sh to create the password file, then
# checks authentication, the reload when the registry's device file changes, the ACL, shared
# subscriptions, the queue limit and healthcheck.sh. test/integration/mosquitto-auth.test.ts runs
# the same files against the device registry.
#
#   bash deploy/mosquitto/selftest.sh        # needs mosquitto, mosquitto_pub/_sub/_passwd
#
# .ci/run runs it. Exits non-zero on the first failed check.
# shellcheck disable=SC2016 # '$share/...' and '$SYS/...' are MQTT topics, not shell expansions.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mosquitto_bin="${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/mosquitto-selftest.XXXXXX")"
# Started as root, mosquitto drops to the `mosquitto` user, which must reach the files.
chmod 755 "$work"
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "selftest FAILED: $*" >&2
  echo "--- broker log:" >&2
  tail -n 30 "$work/broker.log" >&2 || true
  exit 1
}
ok() { echo "  ok  $*"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 30000))
  if ! port_in_use "$candidate"; then
    port=$candidate
    break
  fi
done
[ -n "$port" ] || fail "no free port found"

sed -e "s#^listener 1883\$#listener $port 127.0.0.1#" \
  -e "s#/mosquitto/auth/passwd#$work/auth/passwd#" \
  -e "s#/mosquitto/config/acl#$work/acl#" \
  -e "s#/mosquitto/data/#$work/data/#" \
  -e "s#^sys_interval .*#sys_interval 1#" \
  "$here/mosquitto.conf" >"$work/mosquitto.conf"
grep -q "^listener $port 127.0.0.1\$" "$work/mosquitto.conf" || fail "mosquitto.conf has no 'listener 1883' line"
cp "$here/acl" "$work/acl"
chmod 644 "$work/mosquitto.conf" "$work/acl"

ingest_pw="ingest-$RANDOM$RANDOM"
api_pw="api-$RANDOM$RANDOM"
mkdir -p "$work/registry"
MOSQUITTO_PASSWD_FILE="$work/auth/passwd" MOSQUITTO_CONFIG_FILE="$work/mosquitto.conf" \
  MOSQUITTO_DATA_DIR="$work/data" MOSQUITTO_BIN="$mosquitto_bin" \
  MOSQUITTO_DEVICES_FILE="$work/registry/devices.passwd" MOSQUITTO_DEVICES_POLL_SECONDS=0.2 \
  MQTT_INGEST_PASSWORD="$ingest_pw" MQTT_API_PASSWORD="$api_pw" \
  sh "$here/entrypoint.sh" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 50); do
  port_in_use "$port" && break
  kill -0 "$broker_pid" 2>/dev/null || fail "mosquitto exited at start"
  sleep 0.1
done
port_in_use "$port" || fail "mosquitto does not listen on $port"
ok "mosquitto $("$mosquitto_bin" -h | head -n 1 | awk '{print $3}') starts with deploy/mosquitto/mosquitto.conf on port $port"

pub() { mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 "$@"; }
sub() { mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 "$@"; }
# Polls until user $1 with password $2 may log in (or, with $3 = refused, may not).
await_login() {
  for _ in $(seq 1 50); do
    if pub -u "$1" -P "$2" -i "$1" -t "devices/$1/status" -m probe 2>/dev/null; then
      [ "${3:-}" != refused ] && return 0
    else
      [ "${3:-}" = refused ] && return 0
    fi
    sleep 0.1
  done
  return 1
}

# Devices: user name = device id. They come from the registry's file (devices.passwd, written by the
# api), which the entrypoint watches: it rebuilds the password file and reloads mosquitto (SIGHUP).
# A `svc-` line there must not replace a service account, and a malformed line is skipped.
: >"$work/devices.new"
mosquitto_passwd -b "$work/devices.new" dev-a pw-a
mosquitto_passwd -b "$work/devices.new" dev-b pw-b
mosquitto_passwd -b "$work/devices.new" svc-api hijacked
echo 'dev-c:plain-text-password' >>"$work/devices.new"
mv "$work/devices.new" "$work/registry/devices.passwd"
await_login dev-a pw-a || fail "dev-a cannot log in after devices.passwd was written"
await_login dev-b pw-b || fail "dev-b cannot log in after devices.passwd was written"
ok "devices from devices.passwd log in after the entrypoint's reload, without a restart"
await_login svc-api hijacked refused || fail "a svc- line in devices.passwd replaced a service account"
pub -u svc-api -P "$api_pw" -t platform/live/positions -m '[]' || fail "svc-api lost its password"
await_login dev-c plain-text-password refused || fail "a malformed line in devices.passwd was taken"
ok "devices.passwd cannot touch the service accounts; malformed lines are skipped"

if pub -t devices/dev-a/telemetry -m '{}' 2>/dev/null; then fail "anonymous client may publish"; fi
ok "anonymous client refused"
if pub -u dev-a -P wrong -t devices/dev-a/telemetry -m '{}' 2>/dev/null; then fail "wrong password accepted"; fi
ok "wrong password refused"

# Ingest's shared subscription receives a device's telemetry, status and ack.
sub -u svc-ingest -P "$ingest_pw" -i selftest-ingest -v -C 3 -W 5 \
  -t '$share/ingest/devices/+/telemetry' -t '$share/ingest/devices/+/status' -t '$share/ingest/devices/+/ack' \
  >"$work/ingest.out" 2>&1 &
ingest_sub=$!
sleep 0.5
for kind in telemetry status ack; do
  pub -u dev-a -P pw-a -t "devices/dev-a/$kind" -m "own-$kind" || fail "dev-a may not publish devices/dev-a/$kind"
done
wait "$ingest_sub" || fail "svc-ingest did not get 3 messages on \$share/ingest/...: $(cat "$work/ingest.out")"
ok "device publishes its telemetry/status/ack; svc-ingest gets them through \$share/ingest"

# MQTT 5 shows the broker's verdict in the PUBACK: reason code 135 = not authorised.
denied() { # user password topic
  mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -V mqttv5 -u "$1" -P "$2" -t "$3" -m x -d 2>&1 | grep -q 'PUBACK.*RC:135'
}
denied dev-b pw-b devices/dev-a/telemetry || fail "dev-b may publish dev-a's telemetry"
denied dev-b pw-b devices/dev-a/status || fail "dev-b may publish dev-a's status"
denied dev-a pw-a devices/dev-a/commands || fail "a device may publish commands"
denied svc-api "$api_pw" devices/dev-a/telemetry || fail "svc-api may publish telemetry"
denied dev-a pw-a platform/live/positions || fail "a device may publish on platform/#"
ok "ACL denies: another device's topics, commands from a device, telemetry from a service, platform/# to devices"

# dev-a subscribes to every device's commands (mosquitto 2.0 grants the SUBSCRIBE) but only its own
# are delivered.
sub -u dev-a -P pw-a -v -C 2 -W 3 -t 'devices/+/commands' -t '#' >"$work/dev-a.out" 2>/dev/null &
deva_sub=$!
sleep 0.5
pub -u svc-api -P "$api_pw" -t devices/dev-b/commands -m for-b || fail "svc-api may not command dev-b"
pub -u svc-api -P "$api_pw" -t devices/dev-a/commands -m for-a || fail "svc-api may not command dev-a"
wait "$deva_sub" || true
[ "$(cat "$work/dev-a.out")" = "devices/dev-a/commands for-a" ] ||
  fail "dev-a should get exactly its own command, got: $(cat "$work/dev-a.out")"
ok "a device reads only its own commands, even subscribed to #"

# The live fan-out topic between ingest and api.
sub -u svc-api -P "$api_pw" -C 1 -W 3 -t 'platform/live/positions' >"$work/live.out" 2>/dev/null &
live_sub=$!
sleep 0.5
pub -u svc-ingest -P "$ingest_pw" -t platform/live/positions -m '[]'
wait "$live_sub" || fail "svc-api did not get svc-ingest's platform/live/positions"
ok "svc-ingest -> svc-api on platform/live/positions"

# An offline persistent subscriber keeps far more than mosquitto's default 1,000 queued messages.
n=5000
sub -u svc-ingest -P "$ingest_pw" -i selftest-queue -c -E -t '$share/ingest/devices/+/telemetry' ||
  fail "persistent subscribe failed"
seq 1 "$n" | pub -u dev-a -P pw-a -t devices/dev-a/telemetry -l
sub -u svc-ingest -P "$ingest_pw" -i selftest-queue -c -W 5 -C "$n" -t '$share/ingest/devices/+/telemetry' \
  >"$work/queue.out" 2>/dev/null || true
got=$(wc -l <"$work/queue.out")
[ "$got" -eq "$n" ] || fail "offline subscriber got $got of $n queued QoS 1 messages"
ok "offline persistent subscriber gets all $n queued QoS 1 messages"

# A device that leaves devices.passwd (disabled in the registry) is refused after the reload.
grep -v '^dev-b:' "$work/registry/devices.passwd" >"$work/devices.new"
mv "$work/devices.new" "$work/registry/devices.passwd"
await_login dev-b pw-b refused || fail "dev-b still logs in after leaving devices.passwd"
await_login dev-a pw-a || fail "dev-a lost its login when dev-b left"
ok "a device removed from devices.passwd is refused after the reload; the others stay"

# The health check of the mosquitto service in docker-compose.yml.
MQTT_HEALTH_PORT="$port" MQTT_API_PASSWORD="$api_pw" sh "$here/healthcheck.sh" || fail "healthcheck.sh failed"
if MQTT_HEALTH_PORT="$port" MQTT_API_PASSWORD=wrong sh "$here/healthcheck.sh" 2>/dev/null; then
  fail "healthcheck.sh passes with a wrong password"
fi
ok "healthcheck.sh passes, and fails with a wrong password"

echo "selftest passed: deploy/mosquitto works with $("$mosquitto_bin" -h | head -n 1)"
