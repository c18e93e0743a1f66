#!/usr/bin/env bash
# Writes a throwaway test PKI into DIR for the VM test: ca.crt/ca.key, server.crt/server.key
# (DNS:server, DNS:localhost, IP:127.0.0.1; serverAuth) and client certificates prometheus and
# admin (their name as DNS SAN and CN; clientAuth). EC P-256, unencrypted keys: tests only.
# Usage: make-pki.sh DIR   (needs openssl)
set -euo pipefail
out=$1
mkdir -p "$out"
cd "$out"
days=3650

openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -keyout ca.key -out ca.crt -days "$days" -subj "/CN=Metricstor test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

leaf() { # name subjectAltName extendedKeyUsage
  local name=$1 san=$2 eku=$3
  openssl req -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out "$name.crt" -days "$days" -extfile "$name.ext" 2>/dev/null
  rm "$name.csr" "$name.ext"
}
leaf server "DNS:server,DNS:localhost,IP:127.0.0.1" serverAuth
leaf prometheus "DNS:prometheus" clientAuth
leaf admin "DNS:admin" clientAuth
rm -f ca.srl
