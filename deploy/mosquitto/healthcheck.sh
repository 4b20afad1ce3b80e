#!/bin/sh
# Health check of the mosquitto service in docker-compose.yml: healthy when both listeners of
# mosquitto.conf accept the svc-api account and serve its $SYS topics: the services' 1884, which
# the api and ingest wait on before they start, and the devices' 1883. (On 1883 the client id
# becomes `svc-api`, the user name; no platform process uses that client id.)
# The ports can be overridden for deploy/mosquitto/selftest.sh.
# shellcheck disable=SC2016 # '$SYS/...' is an MQTT topic
for port in ${MQTT_HEALTH_PORTS:-1884 1883}; do
  mosquitto_sub -h 127.0.0.1 -p "$port" -u svc-api -P "$MQTT_API_PASSWORD" \
    -t '$SYS/broker/uptime' -C 1 -W 5 >/dev/null || exit 1
done
