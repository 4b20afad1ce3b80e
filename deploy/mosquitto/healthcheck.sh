#!/bin/sh
# Health check of the mosquitto service in docker-compose.yml: healthy when every listener of
# mosquitto.conf accepts the svc-api account and serves its $SYS topics: the services' 1884, which
# the api and ingest wait on before they start, the devices' clear-text 1883, and the devices' TLS
# 8883. (On 1883 and 8883 the client id becomes `svc-api`, the user name; no platform process uses
# that client id.) On 8883 the certificate chain is verified against ca.crt in the certificate
# folder when there is one (a private CA), else the system's CAs; the host name is not, since the
# certificate names the broker's public name, not 127.0.0.1.
# The ports and folder can be overridden for deploy/mosquitto/selftest.sh.
# shellcheck disable=SC2016 # '$SYS/...' is an MQTT topic
for port in ${MQTT_HEALTH_PORTS:-1884 1883}; do
  mosquitto_sub -h 127.0.0.1 -p "$port" -u svc-api -P "$MQTT_API_PASSWORD" \
    -t '$SYS/broker/uptime' -C 1 -W 5 >/dev/null || exit 1
done
ca="${MOSQUITTO_CERTS_DIR:-/mosquitto/certs}/ca.crt"
[ -f "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
for port in ${MQTT_HEALTH_TLS_PORTS:-8883}; do
  mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$ca" --insecure -u svc-api -P "$MQTT_API_PASSWORD" \
    -t '$SYS/broker/uptime' -C 1 -W 5 >/dev/null || exit 1
done
