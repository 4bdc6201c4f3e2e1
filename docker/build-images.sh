#!/usr/bin/env bash
# Builds every local image the demo and the tests use. Where an image registry is
# reachable the base image is pulled; where it is not, it is built with debootstrap.
set -euo pipefail
cd "$(dirname "$0")"
base/build-base.sh
etcd/build.sh
prometheus/build.sh
cluster-monitor/build.sh "$@"
