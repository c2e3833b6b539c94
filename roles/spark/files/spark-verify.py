"""smack's Spark check, run by roles/spark/tasks/verify.yml through spark-submit.

Usage: spark-submit spark-verify.py N PARTITIONS WORKERS WAIT_SECONDS

Waits (at most WAIT_SECONDS) until WORKERS executors have registered, so the tasks can
spread over every worker; then sums the squares of 1..N over PARTITIONS partitions and
records, for each partition, the node its task ran on. Prints one line
`SMACK_SPARK_VERIFY <json>` with the sum, the count, the partitions and the executors; the
playbook checks them. The job does not judge the answer itself.
"""

import json
import os
import socket
import sys
import time

from pyspark import SparkConf, SparkContext


def where(index, numbers):
    """One record per partition: where it ran and what it held."""
    count = 0
    total = 0
    for x in numbers:
        count += 1
        total += x * x
    yield {
        "index": index,
        "host": socket.gethostname(),
        # The worker's unit sets SPARK_LOCAL_IP to the node's address; executors inherit it.
        "address": os.environ.get("SPARK_LOCAL_IP", socket.gethostname()),
        # An executor runs in <work dir>/<application id>/<executor id>.
        "executor": os.path.basename(os.getcwd()),
        "count": count,
        "sum": total,
    }


def block_manager_hosts(sc):
    """Hosts of the registered executors, plus the driver's (the tracker lists it too)."""
    infos = sc._jsc.sc().statusTracker().getExecutorInfos()
    return sorted(infos[i].host() for i in range(len(infos)))


def main():
    n, partitions, workers, wait_seconds = (int(a) for a in sys.argv[1:5])
    sc = SparkContext(conf=SparkConf())
    try:
        deadline = time.monotonic() + wait_seconds
        while len(block_manager_hosts(sc)) - 1 < workers and time.monotonic() < deadline:
            time.sleep(1)
        numbers = sc.parallelize(range(1, n + 1), partitions)
        total = numbers.map(lambda x: x * x).sum()
        placed = numbers.mapPartitionsWithIndex(where).collect()
        result = {
            "app_id": sc.applicationId,
            "sum": total,
            "count": sum(p["count"] for p in placed),
            "partition_sum": sum(p["sum"] for p in placed),
            "partitions": sorted(placed, key=lambda p: p["index"]),
            "executors": block_manager_hosts(sc),
        }
        print("SMACK_SPARK_VERIFY " + json.dumps(result), flush=True)
    finally:
        sc.stop()


if __name__ == "__main__":
    main()
