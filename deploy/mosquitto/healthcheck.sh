#!/bin/sh
# Health check of the mosquitto service in docker-compose.yml: healthy when the broker accepts the
# svc-api account and serves its $SYS topics. The port can be overridden for deploy/mosquitto/selftest.sh.
# shellcheck disable=SC2016 # '$SYS/...' is an MQTT topic
exec mosquitto_sub -h 127.0.0.1 -p "${MQTT_HEALTH_PORT:-1883}" -u svc-api -P "$MQTT_API_PASSWORD" \
  -t '$SYS/broker/uptime' -C 1 -W 5 >/dev/null
