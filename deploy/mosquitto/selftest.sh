#!/usr/bin/env bash
# Checks deploy/mosquitto (mosquitto.conf, acl, entrypoint.sh) against the real mosquitto binary:
# starts a broker with a temporary copy of the config (only the paths, the $SYS interval and the two
# listeners changed: the devices' 1883 and the services' 1884 move to free loopback ports), runs
# entrypoint.sh to create the password file, then checks authentication, the reload when the
# registry's device file changes, the ACL, shared subscriptions, the queue limit, the client id rules
# of the listeners, TLS for devices (with a certificate from dev-certs.sh) and healthcheck.sh. test/integration/mosquitto-auth.test.ts runs the same
# files against the device registry.
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
free_port() { # a free port other than $1
  for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 30000))
    if [ "$candidate" != "${1:-}" ] && ! port_in_use "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
# The devices' listeners (8883 with TLS, 1883 in clear text in mosquitto.conf) and the platform
# services' (1884).
devices_port="$(free_port)" || fail "no free port found"
services_port="$(free_port "$devices_port")" || fail "no free port found"
tls_port="$(free_port "$devices_port")" || fail "no free port found"
[ "$tls_port" != "$services_port" ] || tls_port="$(free_port "$services_port")" || fail "no free port found"

sed -e "s#^listener 1883\$#listener $devices_port 127.0.0.1#" \
  -e "s#^listener 1884\$#listener $services_port 127.0.0.1#" \
  -e "s#^listener 8883\$#listener $tls_port 127.0.0.1#" \
  -e "s#/mosquitto/auth/passwd#$work/auth/passwd#" \
  -e "s#/mosquitto/auth/tls/#$work/auth/tls/#" \
  -e "s#/mosquitto/config/acl#$work/acl#" \
  -e "s#/mosquitto/data/#$work/data/#" \
  -e "s#^sys_interval .*#sys_interval 1#" \
  "$here/mosquitto.conf" >"$work/mosquitto.conf"
grep -q "^listener $devices_port 127.0.0.1\$" "$work/mosquitto.conf" || fail "mosquitto.conf has no 'listener 1883' line"
grep -q "^listener $services_port 127.0.0.1\$" "$work/mosquitto.conf" || fail "mosquitto.conf has no 'listener 1884' line"
grep -q "^listener $tls_port 127.0.0.1\$" "$work/mosquitto.conf" || fail "mosquitto.conf has no 'listener 8883' line"
grep -q "^certfile $work/auth/tls/server.crt\$" "$work/mosquitto.conf" || fail "mosquitto.conf has no certfile in auth/tls/"
# A development CA and server certificate, as deploy/mosquitto/dev-certs.sh makes them; the
# entrypoint copies the pair from here for the mosquitto user.
sh "$here/dev-certs.sh" "$work/certs" >/dev/null || fail "dev-certs.sh failed"
sh "$here/dev-certs.sh" "$work/other-ca" >/dev/null || fail "dev-certs.sh failed"
cp "$here/acl" "$work/acl"
chmod 644 "$work/mosquitto.conf" "$work/acl"

ingest_pw="ingest-$RANDOM$RANDOM"
api_pw="api-$RANDOM$RANDOM"
mkdir -p "$work/registry"
MOSQUITTO_PASSWD_FILE="$work/auth/passwd" MOSQUITTO_CONFIG_FILE="$work/mosquitto.conf" \
  MOSQUITTO_DATA_DIR="$work/data" MOSQUITTO_BIN="$mosquitto_bin" \
  MOSQUITTO_DEVICES_FILE="$work/registry/devices.passwd" MOSQUITTO_DEVICES_POLL_SECONDS=0.2 \
  MOSQUITTO_CERTS_DIR="$work/certs" \
  MQTT_INGEST_PASSWORD="$ingest_pw" MQTT_API_PASSWORD="$api_pw" \
  sh "$here/entrypoint.sh" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 50); do
  port_in_use "$devices_port" && port_in_use "$services_port" && break
  kill -0 "$broker_pid" 2>/dev/null || fail "mosquitto exited at start"
  sleep 0.1
done
port_in_use "$devices_port" || fail "mosquitto does not listen on $devices_port (devices)"
port_in_use "$services_port" || fail "mosquitto does not listen on $services_port (services)"
for _ in $(seq 1 50); do
  port_in_use "$tls_port" && break
  sleep 0.1
done
port_in_use "$tls_port" || fail "mosquitto does not listen on $tls_port (devices, TLS)"
ok "mosquitto $("$mosquitto_bin" -h | head -n 1 | awk '{print $3}') starts with deploy/mosquitto/mosquitto.conf on ports $tls_port (devices, TLS), $devices_port (devices) and $services_port (services)"

# As in docker-compose.yml: devices on their listener, the service accounts on theirs.
dpub() { mosquitto_pub -h 127.0.0.1 -p "$devices_port" -q 1 "$@"; }
dsub() { mosquitto_sub -h 127.0.0.1 -p "$devices_port" -q 1 "$@"; }
spub() { mosquitto_pub -h 127.0.0.1 -p "$services_port" -q 1 "$@"; }
ssub() { mosquitto_sub -h 127.0.0.1 -p "$services_port" -q 1 "$@"; }
# Polls until user $1 with password $2 may log in (or, with $3 = refused, may not).
await_login() {
  for _ in $(seq 1 50); do
    if dpub -u "$1" -P "$2" -i "$1" -t "devices/$1/status" -m probe 2>/dev/null; then
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
spub -u svc-api -P "$api_pw" -t platform/live/positions -m '[]' || fail "svc-api lost its password"
await_login dev-c plain-text-password refused || fail "a malformed line in devices.passwd was taken"
ok "devices.passwd cannot touch the service accounts; malformed lines are skipped"

if dpub -t devices/dev-a/telemetry -m '{}' 2>/dev/null; then fail "anonymous client may publish"; fi
if spub -t devices/dev-a/telemetry -m '{}' 2>/dev/null; then fail "anonymous client may publish on the services' listener"; fi
ok "anonymous client refused"
if dpub -u dev-a -P wrong -t devices/dev-a/telemetry -m '{}' 2>/dev/null; then fail "wrong password accepted"; fi
ok "wrong password refused"

# Ingest's shared subscription receives a device's telemetry, status and ack.
ssub -u svc-ingest -P "$ingest_pw" -i selftest-ingest -v -C 3 -W 5 \
  -t '$share/ingest/devices/+/telemetry' -t '$share/ingest/devices/+/status' -t '$share/ingest/devices/+/ack' \
  >"$work/ingest.out" 2>&1 &
ingest_sub=$!
sleep 0.5
for kind in telemetry status ack; do
  dpub -u dev-a -P pw-a -t "devices/dev-a/$kind" -m "own-$kind" || fail "dev-a may not publish devices/dev-a/$kind"
done
wait "$ingest_sub" || fail "svc-ingest did not get 3 messages on \$share/ingest/...: $(cat "$work/ingest.out")"
ok "device publishes its telemetry/status/ack; svc-ingest gets them through \$share/ingest"

# MQTT 5 shows the broker's verdict in the PUBACK: reason code 135 = not authorised.
denied() { # port user password topic
  mosquitto_pub -h 127.0.0.1 -p "$1" -q 1 -V mqttv5 -u "$2" -P "$3" -t "$4" -m x -d 2>&1 | grep -q 'PUBACK.*RC:135'
}
denied "$devices_port" dev-b pw-b devices/dev-a/telemetry || fail "dev-b may publish dev-a's telemetry"
denied "$devices_port" dev-b pw-b devices/dev-a/status || fail "dev-b may publish dev-a's status"
denied "$devices_port" dev-a pw-a devices/dev-a/commands || fail "a device may publish commands"
denied "$services_port" svc-api "$api_pw" devices/dev-a/telemetry || fail "svc-api may publish telemetry"
denied "$devices_port" dev-a pw-a platform/live/positions || fail "a device may publish on platform/#"
ok "ACL denies: another device's topics, commands from a device, telemetry from a service, platform/# to devices"

# dev-a subscribes to every device's commands (mosquitto 2.0 grants the SUBSCRIBE) but only its own
# are delivered.
dsub -u dev-a -P pw-a -v -C 2 -W 3 -t 'devices/+/commands' -t '#' >"$work/dev-a.out" 2>/dev/null &
deva_sub=$!
sleep 0.5
spub -u svc-api -P "$api_pw" -t devices/dev-b/commands -m for-b || fail "svc-api may not command dev-b"
spub -u svc-api -P "$api_pw" -t devices/dev-a/commands -m for-a || fail "svc-api may not command dev-a"
wait "$deva_sub" || true
[ "$(cat "$work/dev-a.out")" = "devices/dev-a/commands for-a" ] ||
  fail "dev-a should get exactly its own command, got: $(cat "$work/dev-a.out")"
ok "a device reads only its own commands, even subscribed to #"

# The live fan-out topic between ingest and api.
ssub -u svc-api -P "$api_pw" -C 1 -W 3 -t 'platform/live/positions' >"$work/live.out" 2>/dev/null &
live_sub=$!
sleep 0.5
spub -u svc-ingest -P "$ingest_pw" -t platform/live/positions -m '[]'
wait "$live_sub" || fail "svc-api did not get svc-ingest's platform/live/positions"
ok "svc-ingest -> svc-api on platform/live/positions"

# An offline persistent subscriber keeps far more than mosquitto's default 1,000 queued messages.
n=5000
ssub -u svc-ingest -P "$ingest_pw" -i selftest-queue -c -E -t '$share/ingest/devices/+/telemetry' ||
  fail "persistent subscribe failed"
seq 1 "$n" | dpub -u dev-a -P pw-a -t devices/dev-a/telemetry -l
ssub -u svc-ingest -P "$ingest_pw" -i selftest-queue -c -W 5 -C "$n" -t '$share/ingest/devices/+/telemetry' \
  >"$work/queue.out" 2>/dev/null || true
got=$(wc -l <"$work/queue.out")
[ "$got" -eq "$n" ] || fail "offline subscriber got $got of $n queued QoS 1 messages"
ok "offline persistent subscriber gets all $n queued QoS 1 messages"

# TLS for devices: a device that trusts the CA publishes over 8883 and ingest gets it; a client
# that does not know the CA, trusts another one, or speaks clear text to 8883 gets nowhere.
tpub() { mosquitto_pub -h 127.0.0.1 -p "$tls_port" -q 1 "$@"; }
# (Not through $share/ingest: the offline persistent member above would get its turn of the message.)
ssub -u svc-ingest -P "$ingest_pw" -i selftest-tls -v -C 1 -W 5 -t 'devices/+/telemetry' \
  >"$work/tls.out" 2>&1 &
tls_sub=$!
sleep 0.5
tpub --cafile "$work/certs/ca.crt" -u dev-a -P pw-a -t devices/dev-a/telemetry -m over-tls ||
  fail "dev-a cannot publish over TLS with --cafile ca.crt"
wait "$tls_sub" || fail "svc-ingest did not get dev-a's telemetry sent over TLS: $(cat "$work/tls.out")"
grep -q '^devices/dev-a/telemetry over-tls$' "$work/tls.out" || fail "over TLS, ingest got: $(cat "$work/tls.out")"
if tpub --cafile "$work/other-ca/ca.crt" -u dev-a -P pw-a -t devices/dev-a/telemetry -m x 2>/dev/null; then
  fail "a client trusting another CA completed the TLS handshake"
fi
if tpub -u dev-a -P pw-a -t devices/dev-a/telemetry -m x 2>/dev/null; then fail "clear-text MQTT accepted on the TLS listener"; fi
if tpub --cafile "$work/certs/ca.crt" -u dev-a -P wrong -t devices/dev-a/telemetry -m x 2>/dev/null; then
  fail "wrong password accepted over TLS"
fi
denied_tls() { mosquitto_pub -h 127.0.0.1 -p "$tls_port" --cafile "$work/certs/ca.crt" -q 1 -V mqttv5 \
  -u "$1" -P "$2" -t "$3" -m x -d 2>&1 | grep -q 'PUBACK.*RC:135'; }
denied_tls dev-b pw-b devices/dev-a/telemetry || fail "over TLS, dev-b may publish dev-a's telemetry"
ok "TLS listener: a device trusting the CA publishes (mosquitto_pub --cafile); another CA, clear text, a wrong password and another device's topic are refused"

# The devices' listener replaces a device's client id with its user name: dev-a sending dev-b's
# client id cannot knock dev-b off. dev-b must keep its one connection (mosquitto_sub would reconnect
# on its own after a takeover: two CONNACKs) and get the command sent after dev-a's login.
dsub -u dev-b -P pw-b -i dev-b -d -C 1 -W 5 -t devices/dev-b/commands >"$work/dev-b.out" 2>&1 &
devb_sub=$!
sleep 0.5
dpub -u dev-a -P pw-a -i dev-b -t devices/dev-a/status -m online || fail "dev-a cannot log in with client id dev-b"
spub -u svc-api -P "$api_pw" -t devices/dev-b/commands -m after-takeover
wait "$devb_sub" || fail "dev-b did not get its command after dev-a used its client id: $(cat "$work/dev-b.out")"
[ "$(grep -c 'received CONNACK' "$work/dev-b.out")" -eq 1 ] ||
  fail "dev-b was disconnected when dev-a logged in with client id dev-b: $(cat "$work/dev-b.out")"
grep -q '^after-takeover$' "$work/dev-b.out" || fail "dev-b got something else: $(cat "$work/dev-b.out")"
if grep -q "as dev-b (.*u'dev-a')" "$work/broker.log"; then fail "dev-a was admitted under client id dev-b"; fi
ok "a device logging in with another device's client id gets its own; the other stays connected"

# The services' listener keeps the client id: the ingest replicas are one account (svc-ingest) with
# a client id and a persistent session each. Both stay connected (one CONNACK each) and both
# sessions keep what was published while they were away.
worker() { # n, then mosquitto_sub options
  n=$1
  shift
  ssub -u svc-ingest -P "$ingest_pw" -i "selftest-worker-$n" -c -d -t devices/dev-a/ack "$@" >>"$work/worker-$n.out" 2>&1
}
worker 1 -C 1 -W 5 &
worker1=$!
worker 2 -C 1 -W 5 &
worker2=$!
sleep 0.5
dpub -u dev-a -P pw-a -t devices/dev-a/ack -m live
wait "$worker1" || fail "worker 1 got nothing: $(cat "$work/worker-1.out")"
wait "$worker2" || fail "worker 2 got nothing: $(cat "$work/worker-2.out")"
for n in 1 2; do
  [ "$(grep -c 'received CONNACK' "$work/worker-$n.out")" -eq 1 ] ||
    fail "svc-ingest worker $n was taken over: $(cat "$work/worker-$n.out")"
done
seq 1 3 | sed 's/^/queued-/' | dpub -u dev-a -P pw-a -t devices/dev-a/ack -l
for n in 1 2; do
  : >"$work/worker-$n.out"
  worker "$n" -C 3 -W 5 || fail "worker $n's session lost messages: $(cat "$work/worker-$n.out")"
  [ "$(grep -c '^queued-' "$work/worker-$n.out")" -eq 3 ] || fail "worker $n: $(cat "$work/worker-$n.out")"
done
ok "two svc-ingest clients with their own client ids stay connected and keep their own persistent sessions"

# A device that leaves devices.passwd (disabled in the registry) is refused after the reload.
grep -v '^dev-b:' "$work/registry/devices.passwd" >"$work/devices.new"
mv "$work/devices.new" "$work/registry/devices.passwd"
await_login dev-b pw-b refused || fail "dev-b still logs in after leaving devices.passwd"
await_login dev-a pw-a || fail "dev-a lost its login when dev-b left"
ok "a device removed from devices.passwd is refused after the reload; the others stay"

# The health check of the mosquitto service in docker-compose.yml: both listeners.
health() { # plain ports, TLS ports, password
  MQTT_HEALTH_PORTS="$1" MQTT_HEALTH_TLS_PORTS="$2" MQTT_API_PASSWORD="$3" MOSQUITTO_CERTS_DIR="$work/certs" \
    sh "$here/healthcheck.sh" 2>/dev/null
}
health "$services_port $devices_port" "$tls_port" "$api_pw" || fail "healthcheck.sh failed"
if health "$services_port $devices_port" "$tls_port" wrong; then fail "healthcheck.sh passes with a wrong password"; fi
closed_port="$(free_port "$devices_port")" || fail "no free port found"
if health "$services_port $closed_port" "$tls_port" "$api_pw"; then fail "healthcheck.sh passes with a listener down"; fi
if health "$services_port $devices_port" "$closed_port" "$api_pw"; then fail "healthcheck.sh passes with the TLS listener down"; fi
if health "$services_port $devices_port" "$devices_port" "$api_pw"; then fail "healthcheck.sh takes clear text for TLS"; fi
ok "healthcheck.sh passes, and fails with a wrong password or a listener down"

echo "selftest passed: deploy/mosquitto works with $("$mosquitto_bin" -h | head -n 1)"
