#!/bin/sh
# Entry point of the mosquitto service in docker-compose.yml (eclipse-mosquitto:2, busybox sh).
#
# Mosquitto reads one password file, /mosquitto/auth/passwd on the mosquitto-auth volume. This script
# builds it from two sources and keeps it current:
# - the platform's service accounts svc-ingest and svc-api, hashed from MQTT_INGEST_PASSWORD and
#   MQTT_API_PASSWORD at every start, so rotating one is `edit .env; docker compose up -d`;
# - the registry's devices: the api writes them (user name = device id, Mosquitto `$7$` hash of the
#   token) to devices.passwd on the shared device-credentials volume whenever a device is provisioned
#   or disabled (MOSQUITTO_PASSWORD_FILE, `npm run broker:sync`).
# A loop checks devices.passwd every MOSQUITTO_DEVICES_POLL_SECONDS; when it changed, the password
# file is rebuilt (a new file, then rename) and mosquitto gets SIGHUP: it reloads the file without
# dropping anyone, and disconnects clients whose entry is gone (a disabled device). Only well-formed
# device lines are taken, and never one for a `svc-` name, so the api cannot change a service account.
#
# The TLS listener's certificate (server.crt, the full chain) and key (server.key) are copied from
# /mosquitto/certs (mounted read-only from MQTT_CERTS_DIR) to tls/ beside the password file, owned by
# the mosquitto user: mosquitto reads them after dropping root, and a key kept private (mode 600) on
# the host would be unreadable to it. Without them the start is refused with a message saying where
# they go.
#
# The paths can be overridden for testing the script outside the container.
set -eu

passwd_file="${MOSQUITTO_PASSWD_FILE:-/mosquitto/auth/passwd}"
devices_file="${MOSQUITTO_DEVICES_FILE:-/mosquitto/registry/devices.passwd}"
config_file="${MOSQUITTO_CONFIG_FILE:-/mosquitto/config/mosquitto.conf}"
certs_dir="${MOSQUITTO_CERTS_DIR:-/mosquitto/certs}"
data_dir="${MOSQUITTO_DATA_DIR:-/mosquitto/data}"
mosquitto_bin="${MOSQUITTO_BIN:-/usr/sbin/mosquitto}"
poll_seconds="${MOSQUITTO_DEVICES_POLL_SECONDS:-2}"

: "${MQTT_INGEST_PASSWORD:?MQTT_INGEST_PASSWORD must be set (password of the svc-ingest account)}"
: "${MQTT_API_PASSWORD:?MQTT_API_PASSWORD must be set (password of the svc-api account)}"

auth_dir="$(dirname "$passwd_file")"
umask 077
mkdir -p "$auth_dir" "$data_dir"

# The service accounts, hashed once per start.
services_file="$auth_dir/services.passwd"
: >"$services_file"
mosquitto_passwd -b "$services_file" svc-ingest "$MQTT_INGEST_PASSWORD"
mosquitto_passwd -b "$services_file" svc-api "$MQTT_API_PASSWORD"

# A device line as broker/mosquitto-passwords.ts writes it: device id (shared/protocol.ts), `$7$` hash.
device_line='^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:\$7\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$'

build_passwd_file() {
  next="$passwd_file.next"
  cat "$services_file" >"$next"
  if [ -f "$devices_file" ]; then
    grep -E "$device_line" "$devices_file" | grep -v '^svc-' >>"$next" || true
  fi
  # Started as root, mosquitto drops to the `mosquitto` user before it reads the password file, so
  # the file must belong to that user. Mosquitto 2.0 also warns about a file others can read.
  if [ "$(id -u)" = 0 ]; then chown mosquitto:mosquitto "$next"; fi
  chmod 0600 "$next"
  mv -f "$next" "$passwd_file"
}

devices_version() {
  cksum "$devices_file" 2>/dev/null || echo absent
}

build_passwd_file

tls_dir="$auth_dir/tls"
for file in server.crt server.key; do
  if [ ! -s "$certs_dir/$file" ]; then
    echo "entrypoint: no $certs_dir/$file for the devices' TLS listener (8883): make a development pair with" >&2
    echo "  sh deploy/mosquitto/dev-certs.sh, or put the real certificate there (docs/deployment.md, TLS for devices)" >&2
    exit 1
  fi
done
mkdir -p "$tls_dir"
cp "$certs_dir/server.crt" "$tls_dir/server.crt"
cp "$certs_dir/server.key" "$tls_dir/server.key"
chmod 0600 "$tls_dir/server.crt" "$tls_dir/server.key"

if [ "$(id -u)" = 0 ]; then
  chown -R mosquitto:mosquitto "$auth_dir" "$data_dir"
fi
chmod 0700 "$auth_dir"

"$mosquitto_bin" -c "$config_file" &
broker=$!
# docker stop sends SIGTERM to this shell (PID 1): pass it on, then wait for mosquitto to write its
# database and exit.
trap 'kill -TERM "$broker" 2>/dev/null || true' TERM INT

watch_devices() {
  seen="$(devices_version)"
  while kill -0 "$broker" 2>/dev/null; do
    sleep "$poll_seconds"
    now="$(devices_version)"
    [ "$now" = "$seen" ] && continue
    seen="$now"
    if build_passwd_file && kill -HUP "$broker" 2>/dev/null; then
      echo "entrypoint: $(grep -c . "$passwd_file") accounts after a change of $devices_file; mosquitto reloaded" >&2
    else
      echo "entrypoint: could not rebuild $passwd_file from $devices_file" >&2
    fi
  done
}
watch_devices &
watcher=$!

status=0
wait "$broker" || status=$?
# A trapped signal ends `wait` early; mosquitto may still be writing its database.
while kill -0 "$broker" 2>/dev/null; do
  wait "$broker" || status=$?
done
kill "$watcher" 2>/dev/null || true
exit "$status"
