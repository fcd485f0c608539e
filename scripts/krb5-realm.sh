#!/bin/bash
# krb5-realm.sh: a throwaway MIT Kerberos realm for tests, entirely inside DIR.
#
#   scripts/krb5-realm.sh DIR        create realm + principals, start KDC; prints
#                                    `export VAR=value` lines on stdout
#   scripts/krb5-realm.sh stop DIR   kill the KDC started for DIR
#
# Creates (REALM defaults to FSBRIDGE.TEST, USER_PRINC to root):
#   DIR/krb5.conf DIR/kdc.conf DIR/principal* DIR/stash   config and database
#   DIR/nfs.keytab   keys of nfs/localhost@REALM (the acceptor's keytab)
#   DIR/user.keytab  keys of USER_PRINC@REALM; DIR/ccache holds its TGT
#   DIR/kdc.pid DIR/kdc.log DIR/port
# Only aes256/aes128-cts-hmac-sha1-96 are enabled (no aes-sha2, rc4, des3).
# The KDC listens on 127.0.0.1 only, on a free port.
set -euo pipefail

die() { echo "krb5-realm.sh: $*" >&2; exit 1; }

if [ "${1:-}" = stop ]; then
	[ $# -eq 2 ] || die "usage: $0 stop DIR"
	pidf="$2/kdc.pid"
	if [ -s "$pidf" ]; then
		pid=$(cat "$pidf")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$pidf"
	fi
	exit 0
fi

[ $# -eq 1 ] || die "usage: $0 DIR | $0 stop DIR"
PATH=$PATH:/usr/sbin:/sbin
for t in kdb5_util kadmin.local krb5kdc kinit; do
	command -v "$t" >/dev/null || die "missing $t (install krb5-kdc krb5-admin-server krb5-user)"
done
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
REALM=${REALM:-FSBRIDGE.TEST}
USER_PRINC=${USER_PRINC:-root}
ENCTYPES="aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}
PORT=$(free_port)
echo "$PORT" >"$DIR/port"

cat >"$DIR/krb5.conf" <<CONF
[libdefaults]
	default_realm = $REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	default_tkt_enctypes = $ENCTYPES
	default_tgs_enctypes = $ENCTYPES
	permitted_enctypes = $ENCTYPES
	default_ccache_name = FILE:$DIR/ccache
	default_keytab_name = FILE:$DIR/nfs.keytab
	default_client_keytab_name = FILE:$DIR/user.keytab
	udp_preference_limit = 1
[realms]
	$REALM = {
		kdc = 127.0.0.1:$PORT
	}
[domain_realm]
	localhost = $REALM
	.localhost = $REALM
[logging]
	default = FILE:$DIR/krb5lib.log
CONF

cat >"$DIR/kdc.conf" <<CONF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$PORT
	kdc_tcp_listen = 127.0.0.1:$PORT
[realms]
	$REALM = {
		database_name = $DIR/principal
		key_stash_file = $DIR/stash
		acl_file = $DIR/kadm5.acl
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		kdc_listen = 127.0.0.1:$PORT
		kdc_tcp_listen = 127.0.0.1:$PORT
		max_life = 10h
		max_renewable_life = 1d
	}
[logging]
	kdc = FILE:$DIR/kdc.log
CONF
: >"$DIR/kadm5.acl"

export KRB5_CONFIG="$DIR/krb5.conf" KRB5_KDC_PROFILE="$DIR/kdc.conf" KRB5CCNAME="FILE:$DIR/ccache"

kdb5_util create -s -r "$REALM" -P "fsbridge-master-$$-$RANDOM" >"$DIR/setup.log" 2>&1 ||
	die "kdb5_util create failed: $(cat "$DIR/setup.log")"
kadm() { kadmin.local -r "$REALM" -q "$1" >>"$DIR/setup.log" 2>&1 || die "kadmin.local '$1' failed: $(tail -5 "$DIR/setup.log")"; }
kadm "addprinc -randkey nfs/localhost"
kadm "ktadd -k $DIR/nfs.keytab nfs/localhost"
kadm "addprinc -randkey $USER_PRINC"
kadm "ktadd -k $DIR/user.keytab $USER_PRINC"

krb5kdc -r "$REALM" -P "$DIR/kdc.pid" >>"$DIR/setup.log" 2>&1 || die "krb5kdc failed: $(tail -5 "$DIR/setup.log")"
ok=
for _ in $(seq 50); do
	if kinit -k -t "$DIR/user.keytab" -c "$DIR/ccache" "$USER_PRINC@$REALM" >>"$DIR/setup.log" 2>&1; then
		ok=1
		break
	fi
	sleep 0.2
done
[ -n "$ok" ] || { "$0" stop "$DIR"; die "kinit failed: $(tail -5 "$DIR/setup.log")"; }

cat <<ENV
export KRB5_CONFIG=$DIR/krb5.conf
export KRB5_KDC_PROFILE=$DIR/kdc.conf
export KRB5CCNAME=FILE:$DIR/ccache
export KRB5_KTNAME=FILE:$DIR/nfs.keytab
export KRB5_CLIENT_KTNAME=FILE:$DIR/user.keytab
ENV
