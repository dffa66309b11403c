#!/usr/bin/env bash
# Whole-process timings of minica beside the tools people use instead, in one
# run on this machine: medians of runs interleaved across the tools of each
# job (bench/interleave.py), the ratio minica / fastest other tool, and peak
# memory from /usr/bin/time.
#
#   bash bench/compare.sh [RUNS]        (default 50 runs per command)
#   BASE=/path/to/older/minica bash bench/compare.sh [RUNS]
#                                       (also times that binary, as "minica (base)",
#                                        for a before/after in the same run)
#
# Installs what is missing from Debian's packages: mkcert,
# golang-cfssl (cfssl, cfssljson), gnutls-bin (certtool), time. openssl and
# keytool are used as they are. jsha/minica is not packaged by Debian (its
# "minica" package is another program), so it is not measured here.
set -euo pipefail
BASE=${BASE:+$(realpath "$BASE")}
cd "$(dirname "$0")/.."
RUNS=${1:-50}

missing=()
command -v mkcert >/dev/null || missing+=(mkcert)
command -v cfssl >/dev/null || missing+=(golang-cfssl)
command -v certtool >/dev/null || missing+=(gnutls-bin)
[ -x /usr/bin/time ] || missing+=(time)
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo build --release -q
I=$PWD/bench/interleave.py
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# Timed as installed (cargo install, a package), not where the linker wrote
# it: how a file reached the page cache changes how many page faults it
# takes to start. Here the linker's own file took 229 faults and 5.2 ms to
# issue against 190 and 4.25 ms for a copy of it, interleaved; the other
# tools' binaries were installed by dpkg.
cp target/release/minica "$W/minica"
M=$W/minica
cd "$W"
export MINICA_CA_DIR=$W/mca CAROOT=$W/mkcert MINICA_STORE_PASSWORD=changeit

# --- set-up: one CA per tool -------------------------------------------------
"$M" init -q
mkcert -ecdsa setup.test >/dev/null 2>&1    # creates the CA in $CAROOT
cat > csr.json <<'J'
{"CN":"leaf.test","hosts":["leaf.test"],"key":{"algo":"ecdsa","size":256}}
J
cat > csr-rsa.json <<'J'
{"CN":"leaf.test","hosts":["leaf.test"],"key":{"algo":"rsa","size":2048}}
J
cat > ca-csr.json <<'J'
{"CN":"cfssl root","key":{"algo":"ecdsa","size":256}}
J
cfssl genkey -initca ca-csr.json 2>/dev/null | cfssljson -bare cfca
cat > tmpl <<'J'
cn = "leaf.test"
dns_name = "leaf.test"
tls_www_server
signing_key
expiration_days = 397
J
cat > catmpl <<'J'
cn = "certtool root"
ca
cert_signing_key
expiration_days = 3650
J
certtool --generate-privkey --key-type ecdsa --outfile gca-key.pem 2>/dev/null
certtool --generate-self-signed --load-privkey gca-key.pem --template catmpl --outfile gca.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout oca-key.pem -out oca.pem \
    -subj /CN=openssl-root -days 3650 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
"$M" issue leaf.test --out-dir leaf -q
openssl pkcs12 -export -in leaf/cert.pem -inkey leaf/key.pem -certfile leaf/ca.pem -passout pass:changeit -out ref.p12

# Start from a quiet disk: what the build and the set-up left to write
# would otherwise be written during the first job's runs (by the kernel's
# write-back, or by minica's syncfs, which it uses only when little is
# waiting: src/fsx.rs).
sync

results=$W/results.tsv
: > "$results"
B=${BASE:-}
if [ -n "$B" ]; then cp "$B" "$W/minica-base"; B=$W/minica-base; fi

# Times one job's commands interleaved (A, B, C, A, B, C, ...; see
# bench/interleave.py): this VM drifts 30-40% from one minute to the next,
# and timing each tool for a minute of its own compared machines, not
# tools. job NAME RUNS TOOL='COMMAND' ...; before each run every out* in
# the work directory is removed, so outputs are named out*.
job() {
    local name=$1 runs=$2; shift 2
    python3 "$I" --tsv "$name" "$W" "$runs" "$@" >> "$results" \
        || echo "$name: failed" >&2
}
# minica's command, with this build and, given BASE, the older one.
ours() { # ARGS...
    echo "minica=$M $*"
    if [ -n "$B" ]; then echo "minica (base)=$B $*"; fi
}
mapfile_ours() { mapfile -t OURS < <(ours "$@"); }

sh_() { echo "sh -c '$*'"; }

# --- issue one leaf (new key + certificate) --------------------------------
mapfile_ours issue leaf2.test --out-dir out -q
job "issue P-256 leaf" "$RUNS" "${OURS[@]}" \
    "certtool=$(sh_ "certtool --generate-privkey --key-type ecdsa --outfile out-key.pem 2>/dev/null && certtool --generate-certificate --load-privkey out-key.pem --load-ca-certificate gca.pem --load-ca-privkey gca-key.pem --template tmpl --outfile out.pem 2>/dev/null")" \
    "cfssl=$(sh_ "cfssl gencert -ca cfca.pem -ca-key cfca-key.pem csr.json 2>/dev/null | cfssljson -bare out")" \
    "mkcert=$(sh_ "mkcert -ecdsa -cert-file out.pem -key-file out-key.pem leaf.test 2>/dev/null")" \
    "openssl=openssl req -x509 -CA oca.pem -CAkey oca-key.pem -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout out-key.pem -out out.pem -subj /CN=leaf.test -addext subjectAltName=DNS:leaf.test -days 397"

mapfile_ours issue leaf2.test --out-dir out -q --key-type rsa-2048
job "issue RSA-2048 leaf" "$RUNS" "${OURS[@]}" \
    "certtool=$(sh_ "certtool --generate-privkey --key-type rsa --bits 2048 --outfile out-key.pem 2>/dev/null && certtool --generate-certificate --load-privkey out-key.pem --load-ca-certificate gca.pem --load-ca-privkey gca-key.pem --template tmpl --outfile out.pem 2>/dev/null")" \
    "cfssl=$(sh_ "cfssl gencert -ca cfca.pem -ca-key cfca-key.pem csr-rsa.json 2>/dev/null | cfssljson -bare out")" \
    "mkcert=$(sh_ "mkcert -cert-file out.pem -key-file out-key.pem leaf.test 2>/dev/null")" \
    "openssl=openssl req -x509 -CA oca.pem -CAkey oca-key.pem -newkey rsa:2048 -nodes -keyout out-key.pem -out out.pem -subj /CN=leaf.test -addext subjectAltName=DNS:leaf.test -days 397"

# --- init (a new root CA) --------------------------------------------------
mapfile_ours init --ca-dir out -q
job "init (P-256 root)" "$RUNS" "${OURS[@]}" \
    "certtool=$(sh_ "certtool --generate-privkey --key-type ecdsa --outfile out-key.pem 2>/dev/null && certtool --generate-self-signed --load-privkey out-key.pem --template catmpl --outfile out.pem 2>/dev/null")" \
    "cfssl=$(sh_ "cfssl genkey -initca ca-csr.json 2>/dev/null | cfssljson -bare out")" \
    "openssl=openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout out-key.pem -out out.pem -subj /CN=root -days 3650 -addext basicConstraints=critical,CA:TRUE"

# --- PKCS#12 at equal iterations (2048, OpenSSL's default) -----------------
mapfile_ours keystore --cert leaf/cert.pem --key leaf/key.pem --chain leaf/ca.pem --iterations 2048 --out out.p12 -q
job "PKCS#12 export, 2048 iterations" "$RUNS" "${OURS[@]}" \
    "openssl=openssl pkcs12 -export -in leaf/cert.pem -inkey leaf/key.pem -certfile leaf/ca.pem -passout pass:changeit -iter 2048 -out out.p12"
mapfile_ours truststore --out out.p12 -q
job "truststore" "$(( RUNS / 4 > 3 ? RUNS / 4 : 3 ))" "${OURS[@]}" \
    "keytool=keytool -importcert -noprompt -alias root -file leaf/ca.pem -keystore out-ks.jks -storepass changeit -storetype PKCS12"

# --- verify one chain --------------------------------------------------------
mapfile_ours verify leaf/cert.pem --ca leaf/ca.pem -q
job "verify one chain" "$RUNS" "${OURS[@]}" \
    "openssl=openssl verify -CAfile leaf/ca.pem leaf/cert.pem" \
    "certtool=$(sh_ "certtool --verify --load-ca-certificate leaf/ca.pem --infile leaf/cert.pem >/dev/null")"

# --- 100 leaves ----------------------------------------------------------------
seq 1 100 | sed 's/$/.bulk.test/' > names.txt
FEW=$(( RUNS / 10 > 3 ? RUNS / 10 : 3 ))
batch=("minica batch=$M batch names.txt --out-dir out -q")
if [ -n "$B" ]; then batch+=("minica (base) batch=$B batch names.txt --out-dir out -q"); fi
job "100 P-256 leaves" "$FEW" "${batch[@]}" \
    "minica, shell loop=$(sh_ "for i in \$(seq 1 100); do $M issue l\$i.test --out-dir out/\$i -q; done")" \
    "mkcert=$(sh_ "mkdir -p out-mk; for i in \$(seq 1 100); do mkcert -ecdsa -cert-file out-mk/\$i.pem -key-file out-mk/\$i-key.pem l\$i.test 2>/dev/null; done")" \
    "openssl=$(sh_ "mkdir -p out; for i in \$(seq 1 100); do openssl req -x509 -CA oca.pem -CAkey oca-key.pem -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout out/\$i-key.pem -out out/\$i.pem -subj /CN=l\$i.test -addext subjectAltName=DNS:l\$i.test -days 397 2>/dev/null; done")"

# --- batch throughput: 2,000 leaves with all their files (leaves/s = 2000 / median)
seq 1 2000 | sed 's/$/.bulk.test/' > names2000.txt
batch=("minica=$M batch names2000.txt --out-dir out -q")
if [ -n "$B" ]; then batch+=("minica (base)=$B batch names2000.txt --out-dir out -q"); fi
job "2000 P-256 leaves (batch)" "$FEW" "${batch[@]}"
# The same on tmpfs, where the file system's own cost per new inode (ext4
# without a journal scans inodes deleted in the last 5 s, and each run
# deletes the last one's 10,000 files) does not hide minica's.
if [ -d /dev/shm ]; then
    S=$(mktemp -d -p /dev/shm)
    trap 'rm -rf "$W" "$S"' EXIT
    cp names2000.txt "$S/"
    MINICA_CA_DIR=$S/mca "$M" init -q
    batch=("minica=MINICA_CA_DIR=$S/mca $M batch names2000.txt --out-dir out -q")
    if [ -n "$B" ]; then batch+=("minica (base)=MINICA_CA_DIR=$S/mca $B batch names2000.txt --out-dir out -q"); fi
    python3 "$I" --tsv "2000 P-256 leaves (batch, tmpfs)" "$S" "$(( RUNS / 4 > 3 ? RUNS / 4 : 3 ))" "${batch[@]}" >> "$results" \
        || echo "batch on tmpfs: failed" >&2
fi

# --- peak memory (KiB), single commands ---------------------------------------
mem() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
rm -rf out; echo -e "peak memory, issue P-256 leaf\tminica\t$(mem "$M" issue mem.test --out-dir out -q)" >> "$results"
echo -e "peak memory, issue P-256 leaf\topenssl\t$(mem openssl req -x509 -CA oca.pem -CAkey oca-key.pem -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout out-key.pem -out out.pem -subj /CN=m -days 1)" >> "$results"
echo -e "peak memory, issue P-256 leaf\tmkcert\t$(mem mkcert -ecdsa -cert-file out.pem -key-file out-key.pem m.test)" >> "$results"
echo -e "peak memory, verify\tminica\t$(mem "$M" verify leaf/cert.pem --ca leaf/ca.pem -q)" >> "$results"
echo -e "peak memory, verify\topenssl\t$(mem openssl verify -CAfile leaf/ca.pem leaf/cert.pem)" >> "$results"
echo -e "peak memory, PKCS#12\tminica\t$(mem "$M" keystore --cert leaf/cert.pem --key leaf/key.pem --iterations 2048 --out mem.p12 -q)" >> "$results"
echo -e "peak memory, truststore\tkeytool\t$(mem keytool -importcert -noprompt -alias r -file leaf/ca.pem -keystore mem.jks -storepass changeit -storetype PKCS12)" >> "$results"

python3 - "$results" <<'P'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
jobs = collections.OrderedDict()
for job, tool, value in rows:
    jobs.setdefault(job, []).append((tool, float(value)))
print(f"| job | tool | median | minica / fastest other |")
print(f"|---|---|---|---|")
for job, results in jobs.items():
    unit = "KiB" if job.startswith("peak memory") else "ms"
    ours = [v for t, v in results if t.startswith("minica")]
    others = [v for t, v in results if not t.startswith("minica")]
    best = min(others) if others else None
    if job.startswith("2000 "):
        for tool, v in results:
            print(f"| {job} | {tool} | {v:.2f} ms | {2000 / v * 1000:.0f} leaves/s |")
        continue
    for tool, v in results:
        ratio = f"{v / best:.2f}x" if tool.startswith("minica") and best else ""
        print(f"| {job} | {tool} | {v:.2f} {unit} | {ratio} |" if unit == "ms" else f"| {job} | {tool} | {v:.0f} {unit} ({v/1024:.1f} MiB) | {ratio} |")
P
