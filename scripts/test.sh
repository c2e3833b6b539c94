#!/usr/bin/env bash
# The whole test suite, every tier: unit, lint, integration (local podman nodes), e2e (the real
# Pulumi engine). Run through `make test`, which installs what is missing first.
#
# Most of a cluster test's time is spent waiting (JVMs starting, gossip settling, SSH round
# trips), not computing, so the suite runs in three lanes at once, each on its own quarter of
# the test subnet: lane 1 is the shared data-services cluster (tests/integration/test_services.py,
# the longest module), lane 3 the data-path cluster (tests/integration/test_data_path.py, the
# IoT pipeline under faults), then the one-node security cluster
# (tests/integration/test_security.py), the baremetal stack, Spark on Mesos and the lint tier,
# lane 2 everything else (the e2e tier the longest of it). With arguments, one lane runs them
# as given:
#   scripts/test.sh tests/unit -k config
set -euo pipefail
cd "$(dirname "$0")/.."

subnet=${SMACK_TEST_SUBNET:-198.18.0.0/24}
pytest=(.venv/bin/python -m pytest -p no:cacheprovider --durations=15)
started=$(date +%s)

if [ $# -gt 0 ]; then
  SMACK_TEST_SUBNET=$subnet "${pytest[@]}" "$@"
  echo "tests passed in $(( $(date +%s) - started ))s"
  exit 0
fi

# Quarters of the subnet, one per lane (the fourth stays free).
read -r lane1_subnet lane2_subnet lane3_subnet _ < <(.venv/bin/python - "$subnet" <<'EOF'
import ipaddress, sys
print(*ipaddress.IPv4Network(sys.argv[1]).subnets(prefixlen_diff=2))
EOF
)
# Built once before the lanes start (a rebuild beside a running lane touches no file anyway).
.venv/bin/python -m tests.standins.build >/dev/null

lane2_log=$(mktemp -t smack-lane2.XXXXXX.log)
# pytest exits 5 when it collected nothing: like any other non-zero exit it fails the lane. With
# SMACK_REQUIRED_TIERS, tests/conftest.py also fails a lane in which a listed tier passed no
# test, or anything was skipped.
# Lane 1 is the longer one, so lane 2 and everything it starts (its nodes' services too: they
# inherit the priority) yield the CPU to it when both want it; lane 2 catches up on lane 1's
# waits.
SMACK_TEST_SUBNET=$lane2_subnet SMACK_REQUIRED_TIERS=unit,integration,e2e \
  setsid nice -n 3 "${pytest[@]}" tests/unit tests/integration tests/e2e \
  --ignore tests/integration/test_services.py --ignore tests/integration/test_data_path.py \
  --ignore tests/integration/test_security.py --ignore tests/integration/test_baremetal.py \
  --ignore tests/integration/test_spark_on_mesos.py \
  >"$lane2_log" 2>&1 &
lane2=$!
lane3_log=$(mktemp -t smack-lane3.XXXXXX.log)
SMACK_TEST_SUBNET=$lane3_subnet SMACK_REQUIRED_TIERS=integration,lint \
  setsid nice -n 3 "${pytest[@]}" tests/integration/test_data_path.py \
  tests/integration/test_security.py tests/integration/test_baremetal.py \
  tests/integration/test_spark_on_mesos.py tests/lint >"$lane3_log" 2>&1 &
lane3=$!
# Stopping the suite stops lanes 2 and 3 and everything they started (their process groups).
trap 'kill -- -"$lane2" -"$lane3" 2>/dev/null || true' INT TERM

echo "lane 1: tests/integration/test_services.py on $lane1_subnet"
echo "lane 2: every other test on $lane2_subnet (output shown when it ends; $lane2_log)"
echo "lane 3: tests/integration/test_data_path.py, test_security.py, test_baremetal.py," \
     "test_spark_on_mesos.py and tests/lint on $lane3_subnet" \
     "(output shown when it ends; $lane3_log)"
lane1_status=0
SMACK_TEST_SUBNET=$lane1_subnet SMACK_REQUIRED_TIERS=integration \
  "${pytest[@]}" tests/integration/test_services.py || lane1_status=$?
echo "lane 1 ended (exit $lane1_status) after $(( $(date +%s) - started ))s"

lane3_status=0
wait "$lane3" || lane3_status=$?
echo "lane 3 ended (exit $lane3_status) after $(( $(date +%s) - started ))s"
lane2_status=0
wait "$lane2" || lane2_status=$?
trap - INT TERM
echo
echo "======= lane 3: the data path, security, baremetal, Spark on Mesos, lint ======="
cat "$lane3_log"
echo "lane 3 ended (exit $lane3_status)"
echo
echo "========================= lane 2: every other test ========================="
cat "$lane2_log"
echo "lane 2 ended (exit $lane2_status)"
rm -f "$lane2_log" "$lane3_log"

if [ "$lane1_status" -ne 0 ] || [ "$lane2_status" -ne 0 ] || [ "$lane3_status" -ne 0 ]; then
  echo "test suite FAILED after $(( $(date +%s) - started ))s (lane 1: $lane1_status," \
       "lane 2: $lane2_status, lane 3: $lane3_status)"
  exit 1
fi
echo "test suite passed in $(( $(date +%s) - started ))s"
