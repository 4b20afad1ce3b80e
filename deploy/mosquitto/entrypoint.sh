#!/bin/sh
# Entry point of the mosquitto service in docker-compose.yml (eclipse-mosquitto:2, busybox sh).
#
# The password file lives on the mosquitto-auth volume, not in git: it holds the platform's
# service accounts and, later, the devices' credentials. At every start this script makes sure
# the file exists and (re)sets the two service accounts from the environment, so rotating
# MQTT_INGEST_PASSWORD / MQTT_API_PASSWORD is `edit .env; docker compose up -d`. Other entries
# (devices) are left as they are: `mosquitto_passwd -b` replaces or adds one user only.
#
# The paths can be overridden for testing the script outside the container.
set -eu

passwd_file="${MOSQUITTO_PASSWD_FILE:-/mosquitto/auth/passwd}"
config_file="${MOSQUITTO_CONFIG_FILE:-/mosquitto/config/mosquitto.conf}"
data_dir="${MOSQUITTO_DATA_DIR:-/mosquitto/data}"
mosquitto_bin="${MOSQUITTO_BIN:-/usr/sbin/mosquitto}"

: "${MQTT_INGEST_PASSWORD:?MQTT_INGEST_PASSWORD must be set (password of the svc-ingest account)}"
: "${MQTT_API_PASSWORD:?MQTT_API_PASSWORD must be set (password of the svc-api account)}"

auth_dir="$(dirname "$passwd_file")"
umask 077
mkdir -p "$auth_dir" "$data_dir"
[ -f "$passwd_file" ] || : >"$passwd_file"

mosquitto_passwd -b "$passwd_file" svc-ingest "$MQTT_INGEST_PASSWORD"
mosquitto_passwd -b "$passwd_file" svc-api "$MQTT_API_PASSWORD"

# Started as root, mosquitto drops to the `mosquitto` user before it reads the password file and
# writes its database, so both must belong to that user. Mosquitto 2.0 also warns about a password
# file that others can read.
if [ "$(id -u)" = 0 ]; then
  chown -R mosquitto:mosquitto "$auth_dir" "$data_dir"
fi
chmod 0700 "$auth_dir"
chmod 0600 "$passwd_file"

exec "$mosquitto_bin" -c "$config_file"
