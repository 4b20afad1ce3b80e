#!/bin/sh
# Makes a certificate authority and a server certificate for the broker's TLS listener (8883), for
# development and tests only: devices trust ca.crt (mosquitto_pub --cafile ca.crt), the broker
# presents server.crt with server.key. In production the certificate comes from a real CA
# (docs/deployment.md, "TLS for devices") and goes in the same place under the same names.
#
#   sh deploy/mosquitto/dev-certs.sh [folder] [host name or IP ...]
#
# folder: default deploy/mosquitto/certs (git-ignored; docker-compose.yml mounts it, see
# MQTT_CERTS_DIR). The certificate names localhost and 127.0.0.1, plus every name given, e.g. the
# host name the test devices connect to. An existing CA in the folder is reused, so devices that
# trust it keep working when the server certificate is made again (new names).
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$here/certs}"
[ "$#" -gt 0 ] && shift
days=825

san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  case "$name" in
  *[!0-9.]*) case "$name" in *:*) san="$san,IP:$name" ;; *) san="$san,DNS:$name" ;; esac ;;
  *) san="$san,IP:$name" ;;
  esac
done

mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.key" ] || [ ! -f "$dir/ca.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=recovery-telematics development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=${1:-localhost}" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
  "$san" >"$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days "$days" -sha256 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
# The CA certificate is public (devices get it); the keys stay private.
chmod 644 "$dir/ca.crt" "$dir/server.crt"
echo "dev-certs: $dir/server.crt for $san, signed by $dir/ca.crt (give devices ca.crt)"
