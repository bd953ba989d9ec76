#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages and the shipped config say what the code does: every option of
# --help is in kareaper(8), every config key in kareaper.conf(5) and in the shipped
# kareaper.conf, every MESSAGE_ID and KAREAPER_ name in kareaper(8); the pages are
# lint-clean troff.
set -u
: "${KAREAPER:?}" "${MAN_DIR:?}" "${CONF_DIR:?}" "${TESTS_SRC:?}" "${UNIT:?}"
n=0
fail=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# man pages rendered as plain text, hyphens as typed
render() { MANWIDTH=200 man -E ascii -l "$1" 2>/dev/null | col -b; }
render "$MAN_DIR/kareaper.8" >"$TMP/k8"
render "$MAN_DIR/kareaper.conf.5" >"$TMP/k5"
ok $(test -s "$TMP/k8" && test -s "$TMP/k5"; echo $?) "man pages render"

for page in kareaper.8 kareaper.conf.5; do
	out=$(mandoc -T lint -W warning "$MAN_DIR/$page" 2>&1)
	ok $([ -z "$out" ]; echo $?) "$page: mandoc lint clean"
	[ -z "$out" ] || echo "$out" | sed 's/^/# /'
	out=$(LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$MAN_DIR/$page" 2>&1 >/dev/null)
	ok $([ -z "$out" ]; echo $?) "$page: man --warnings clean"
done

for opt in $("$KAREAPER" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+'); do
	ok $(grep -q -- "$opt" "$TMP/k8"; echo $?) "kareaper(8) documents $opt"
done

# every key: from the effective config kareaper prints (it prints all of them)
printf '[global]\n[policy p]\n' >"$TMP/min.conf"
"$KAREAPER" --check-config -c "$TMP/min.conf" | sed -n 's/^#\? *\([a-z_]*\) = .*/\1/p' | sort -u >"$TMP/keys"
ok $([ "$(wc -l <"$TMP/keys")" -ge 20 ]; echo $?) "check-config prints every key ($(wc -l <"$TMP/keys"))"
# and the other way: a key the page shows (KEY = ...) is one the parser knows
sed -n 's/^ *\([a-z_]*\) = .*/\1/p' "$TMP/k5" | sort -u >"$TMP/k5keys"
extra=$(comm -23 "$TMP/k5keys" "$TMP/keys" | tr '\n' ' ')
ok $([ -z "$extra" ]; echo $?) "kareaper.conf(5) shows no key the parser does not know ($extra)"
while read -r key; do
	ok $(grep -q "^ *$key = " "$TMP/k5"; echo $?) "kareaper.conf(5) documents $key"
	ok $(grep -q "^;\?$key = " "$CONF_DIR/kareaper.conf"; echo $?) "the shipped kareaper.conf has $key"
done <"$TMP/keys"

for id in $(sed -n 's/^#define MSGID_[A-Z_]* *"\([0-9a-f]*\)"/\1/p' "$TESTS_SRC/../src/service.h"); do
	ok $(grep -q "$id" "$TMP/k8"; echo $?) "kareaper(8) lists MESSAGE_ID $id"
done

# every KAREAPER_ name the binary holds: environment variables it reads, fields
# of its journal entries
for name in $(strings "$KAREAPER" | grep -oE 'KAREAPER_[A-Z_]+' | sort -u); do
	ok $(grep -q "$name" "$TMP/k8"; echo $?) "kareaper(8) documents $name"
done

"$KAREAPER" --check-config -c "$CONF_DIR/kareaper.conf" >/dev/null
ok $? "the shipped kareaper.conf is valid"

# one set of paths: the file the binary reads by default is the one the unit, the
# man pages and the install name, whatever ./configure was given
conf=$("$KAREAPER" --help | sed -n 's/.*configuration file (default \(.*\))$/\1/p')
ok $([ -n "$conf" ]; echo $?) "--help names the default config ($conf)"
ok $(grep -q -- "^ExecStart=.* --config $conf\$" "$UNIT"; echo $?) "the unit's ExecStart reads it"
ok $(grep -q -- "^ExecReload=.* --check-config .*--config $conf\$" "$UNIT"; echo $?) \
	"and its ExecReload checks it"
ok $(grep -q "^ *$conf\$" "$TMP/k8"; echo $?) "kareaper(8) FILES names it"
ok $(grep -q "$conf" "$TMP/k5"; echo $?) "kareaper.conf(5) names it"

# The shipped Kubernetes ConfigMap's kareaper.conf is valid, and a dry run.
sed -n '/^  kareaper.conf: |$/,$ { /^  kareaper.conf: |$/d; s/^    //; p }' \
	"$TESTS_SRC/../deploy/kubernetes/configmap.yaml" >"$TMP/configmap.conf"
"$KAREAPER" --check-config -c "$TMP/configmap.conf" >"$TMP/configmap.check" 2>&1
ok $? "deploy/kubernetes's ConfigMap holds a valid kareaper.conf"
ok $(grep -qx 'dry_run = yes' "$TMP/configmap.check"; echo $?) "and it is a dry run"
# Its NetworkPolicy (off by default) admits the metrics port of the DaemonSet's
# pods, from labelled namespaces only.
python3 - "$TESTS_SRC/../deploy/kubernetes" >"$TMP/netpol" 2>&1 <<'PY'
import os, sys, yaml
d = sys.argv[1]
ds = yaml.safe_load(open(os.path.join(d, 'daemonset.yaml')))
np = yaml.safe_load(open(os.path.join(d, 'networkpolicy.yaml')))
labels = ds['spec']['template']['metadata']['labels']
port = ds['spec']['template']['spec']['containers'][0]['ports'][0]['containerPort']
(rule,) = np['spec']['ingress']
assert np['kind'] == 'NetworkPolicy' and np['spec']['policyTypes'] == ['Ingress']
assert all(labels.get(k) == v for k, v in np['spec']['podSelector']['matchLabels'].items())
assert [p['port'] for p in rule['ports']] == [port]
assert all(list(f) == ['namespaceSelector'] and f['namespaceSelector']['matchLabels']
           for f in rule['from'])
assert '# - networkpolicy.yaml' in open(os.path.join(d, 'kustomization.yaml')).read()
PY
ok $? "deploy/kubernetes's NetworkPolicy admits only labelled namespaces to the metrics port (off by default)" ||
	diag "$TMP/netpol"

# CI installs what the README tells a newcomer to install, and runs its tests as
# the README does.
readme_pkgs=$(sed -n 's/.*apt-get install -y \([^&]*\)&&.*/\1/p' "$TESTS_SRC/../README.md" | tr ' ' '\n' | sort -u)
ci_pkgs=$(sed -n '/^apt-get install/,/^$/p' "$TESTS_SRC/../.ci/run" | tr ' \t\\' '\n\n\n' | sort -u)
missing=$(comm -23 <(echo "$readme_pkgs" | grep .) <(echo "$ci_pkgs"))
ok $([ -n "$readme_pkgs" ] && [ -z "$missing" ]; echo $?) ".ci/run installs every package the README names"
[ -z "$missing" ] || echo "# not in .ci/run: $missing"
flags=$(sed -n 's/.*&& \.\/configure \(--enable-werror[^&]*\)&& make -j.*/\1/p' "$TESTS_SRC/../README.md")
ok $([ -n "$flags" ] && grep -q -- "./configure $flags&& make" "$TESTS_SRC/../.ci/run"; echo $?) \
	"and configures its test build as the README does ($flags)"

echo "1..$n"
exit $fail
