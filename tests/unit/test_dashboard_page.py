"""The dashboards page (roles/metrics/files/dashboards) in a real browser, against a fake
Prometheus: no cluster needed.

The fake does what matters to the page: basic auth on every path, the page under /user/ with
uPlot beside it in /user/vendor/ (as the deploy lays it out), /api/v1/query_range answering
with a deterministic matrix for the metric names the cluster exposes, an empty result for
names it does not know, a Prometheus-style error for one metric, and /api/v1/alerts with one
firing and one pending alert.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import os
import re
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.dashboard_browser import CHROMIUM, READY_JS, capture, png_colour_count

PAGE_DIR = Path(__file__).resolve().parents[2] / "roles" / "metrics" / "files" / "dashboards"
UPLOT_VERSION = "1.6.32"
UPLOT_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
DASHBOARDS = ("overview", "kafka", "cassandra", "pipeline", "mesos")
USER, PASSWORD = "prometheus", "not-the-real-one"
STACK = "demo-stack"

# What the cluster exposes. Marathon's heap gauge is left out on purpose: its name changes
# between releases, and a panel asking for a missing name must say "no data".
KNOWN_METRICS = frozenset(
    [
        "up",
        # node exporter
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "node_load1",
        "node_network_receive_bytes_total",
        # JMX exporter agents
        "jvm_memory_used_bytes",
        "jvm_gc_collection_seconds_count",
        "process_cpu_seconds_total",
        # Kafka
        "kafka_messages_in_total",
        "kafka_bytes_in_total",
        "kafka_bytes_out_total",
        "kafka_under_replicated_partitions",
        "kafka_offline_partitions",
        "kafka_active_controller",
        # Cassandra
        "cassandra_client_requests_total",
        "cassandra_client_request_failures_total",
        "cassandra_storage_load_bytes",
        "cassandra_pending_compactions",
        # ZooKeeper
        "zookeeper_role",
        "zookeeper_alive_connections",
        "zookeeper_znode_count",
        "zookeeper_outstanding_requests",
        # Spark
        "spark_master_aliveworkers",
        "spark_master_apps",
        "spark_master_waitingapps",
        "spark_worker_coresused",
        "spark_worker_memused_mb",
        "spark_worker_executors",
        # Mesos and Marathon
        "mesos_master_elected",
        "mesos_master_slaves_active",
        "mesos_master_slaves_inactive",
        "mesos_master_tasks_running",
        "mesos_master_cpus_total",
        "mesos_master_cpus_used",
        "mesos_master_mem_total",
        "mesos_master_mem_used",
        "mesos_slave_tasks_running",
        "mesos_slave_cpus_used",
        "marathon_mesos_offers_incoming_total",
    ]
)
# Any query naming this metric fails the way Prometheus fails an over-large query.
ERROR_METRIC = "kafka_active_controller"
ERROR_TEXT = "query processing would load too many samples into memory in query execution"

LABEL_VALUES = {
    "node": ["node-1", "node-2", "node-3"],
    "topic": ["sensor-readings", "vehicle-positions"],
    "scope": ["Read", "Write"],
    "role": ["Leader", "Follower"],
    "job": ["zookeeper", "kafka", "cassandra", "spark_master", "mesos_master", "node"],
    "area": ["heap"],
    "mode": ["idle", "user"],
}
FIRING = {"alertname": "KafkaBrokerDown", "node": "node-2", "severity": "critical"}
PENDING = {"alertname": "RootDiskFilling", "node": "node-3", "severity": "warning"}


@dataclass
class FakePrometheus:
    page_dir: Path
    vendor_dir: Path
    url: str = ""
    unauthorized: int = 0
    paths: list[str] = field(default_factory=list)
    ranges: list[dict[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matrix(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        names = [n for n in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", query) if n in KNOWN_METRICS]
        if not names:
            return []
        grouped = re.search(r"\bby\s*\(([^)]*)\)", query)
        if grouped:
            keys = [k.strip() for k in grouped.group(1).split(",") if k.strip()]
            label_sets = [
                {k: LABEL_VALUES[k][i] for k in keys} for i in range(len(LABEL_VALUES[keys[0]]))
            ]
        elif re.search(r"\b(sum|max|min|avg|count)\s*\(", query):
            label_sets = [{}]
        else:
            label_sets = [
                {"__name__": names[0], "job": "node", "node": node} for node in LABEL_VALUES["node"]
            ]
        count = int((end - start) // step) + 1
        wave = _wave(query, names[0])
        return [
            {
                "metric": labels,
                "values": [[start + k * step, wave(start + k * step, i)] for k in range(count)],
            }
            for i, labels in enumerate(label_sets)
        ]


def _wave(query: str, metric: str) -> Callable[[float, int], str]:
    """Plausible values for the screenshot: percentages stay under 100, counts are whole,
    sizes are in the GiB; each metric gets its own scale, the same on every run."""
    scale = 1 + zlib.crc32(metric.encode()) % 400
    if query.lstrip().startswith("100 *"):
        return lambda t, i: f"{35 + 12 * i + 15 * math.sin(t / 97 + i):.4g}"
    if metric in ("mesos_master_elected", "kafka_active_controller"):
        return lambda t, i: "1" if i == 0 else "0"
    if metric in ("up", "zookeeper_role") or re.search(r"\bcount\b", query):
        return lambda t, i: str(i % 3 + 1)
    if metric.endswith("_bytes"):
        scale *= 3_000_000
    elif metric.endswith(("_mb", "_mem_used", "_mem_total")):
        scale *= 20
    return lambda t, i: f"{scale * (i + 1) * (1.3 + math.sin(t / 97 + i)):.6g}"


def _handler(fake: FakePrometheus) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keeps pytest's output readable

        def send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Prometheus"')
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status: int, doc: dict[str, Any]) -> None:
            self.send(status, json.dumps(doc).encode(), "application/json")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with fake.lock:
                fake.paths.append(parts.path)
            if self.headers.get("Authorization") != expected:
                with fake.lock:
                    fake.unauthorized += 1
                self.send(401, b"Unauthorized\n", "text/plain")
                return
            if parts.path == "/api/v1/query_range":
                self.query_range(parse_qs(parts.query))
            elif parts.path == "/api/v1/alerts":
                alerts = [
                    {"labels": FIRING, "state": "firing", "value": "0"},
                    {"labels": PENDING, "state": "pending", "value": "0.91"},
                ]
                self.send_json(200, {"status": "success", "data": {"alerts": alerts}})
            elif parts.path.startswith("/user/"):
                self.static(parts.path.removeprefix("/user/"))
            else:
                self.send(404, b"404 page not found\n", "text/plain")

        def query_range(self, params: dict[str, list[str]]) -> None:
            try:
                query = params["query"][0]
                start, end, step = (float(params[k][0]) for k in ("start", "end", "step"))
            except (KeyError, ValueError):
                self.send_json(400, {"status": "error", "errorType": "bad_data", "error": "bad"})
                return
            with fake.lock:
                fake.ranges.append({"start": start, "end": end, "step": step})
            if ERROR_METRIC in query:
                self.send_json(
                    422, {"status": "error", "errorType": "execution", "error": ERROR_TEXT}
                )
                return
            result = fake.matrix(query, start, end, step)
            self.send_json(
                200, {"status": "success", "data": {"resultType": "matrix", "result": result}}
            )

        def static(self, rel: str) -> None:
            root = fake.vendor_dir if rel.startswith("vendor/") else fake.page_dir
            rel = rel.removeprefix("vendor/") or "index.html"
            target = (root / rel).resolve()
            if not target.is_relative_to(root.resolve()) or not target.is_file():
                self.send(404, b"404 page not found\n", "text/plain")
                return
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self.send(200, target.read_bytes(), kind)

    return Handler


@pytest.fixture(scope="session")
def uplot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """uPlot's dist directory: $SMACK_UPLOT_DIR (the package or its dist/), else the npm
    package fetched here. The page is useless without it, so a failure here fails the test."""
    given = os.environ.get("SMACK_UPLOT_DIR")
    if given:
        root = Path(given)
    else:
        work = tmp_path_factory.mktemp("uplot")
        subprocess.run(
            ["npm", "pack", f"uplot@{UPLOT_VERSION}"],
            cwd=work,
            check=True,
            capture_output=True,
            timeout=300,
        )
        with tarfile.open(work / f"uplot-{UPLOT_VERSION}.tgz") as tar:
            tar.extractall(work, filter="data")
        root = work / "package"
    dist = root / "dist" if (root / "dist").is_dir() else root
    for name in UPLOT_FILES:
        assert (dist / name).is_file(), f"uPlot file missing: {dist / name}"
    return dist


@pytest.fixture(scope="module")
def prometheus(uplot_dir: Path) -> Iterator[FakePrometheus]:
    fake = FakePrometheus(page_dir=PAGE_DIR, vendor_dir=uplot_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _page_url(fake: FakePrometheus) -> str:
    return f"{fake.url}/user/index.html?stack={STACK}"


def test_the_fake_asks_for_credentials(prometheus: FakePrometheus) -> None:
    url = _page_url(prometheus)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(url, timeout=10)  # noqa: S310 (our own loopback server)
    assert anonymous.value.code == 401
    for password in ("wrong", PASSWORD):
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 (our own loopback server)
            url, headers={"Authorization": f"Basic {token}"}
        )
        if password == PASSWORD:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                assert answer.status == 200
                assert b"dashboards.js" in answer.read()
        else:
            with pytest.raises(urllib.error.HTTPError) as wrong:
                urllib.request.urlopen(request, timeout=10)  # noqa: S310
            assert wrong.value.code == 401


@pytest.mark.timeout(240)
@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_dashboard_tab(prometheus: FakePrometheus, tmp_path: Path, dashboard: str) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} missing: apt-get install chromium"
    before = len(prometheus.paths)
    shot = tmp_path / f"{dashboard}.png"
    seen = capture(_page_url(prometheus), USER, PASSWORD, shot, dashboard=dashboard)

    assert seen["dashboard"] == dashboard
    assert seen["loaded"] >= 1
    # The browser logs each failed request (the fake's 422 is one); anything else is a bug.
    errors = [e for e in seen["console_errors"] if not e.startswith("Failed to load resource")]
    assert errors == []
    assert STACK in seen["title"]
    panels = seen["panels"]
    assert len(panels) >= 4, panels

    data, failed, empty = [], [], []
    for panel in panels:
        assert panel["title"], panel
        names = {n for q in panel["queries"] for n in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", q)}
        if ERROR_METRIC in names:
            failed.append(panel)
            assert panel["error"] and ERROR_TEXT in panel["error"], panel
            assert panel["message"] and ERROR_TEXT in panel["message"], panel
            assert panel["series"] == 0, panel
        elif names & KNOWN_METRICS:
            data.append(panel)
            assert panel["error"] is None, panel
            assert panel["series"] > 0, panel
            # The fake answers every step: each series has a point at each of them.
            per_series = panel["points"] / panel["series"]
            assert 120 <= per_series <= 201, panel
            assert panel["canvases"] > 0, panel
        else:
            empty.append(panel)
            assert panel["error"] is None, panel
            assert (panel["series"], panel["points"]) == (0, 0), panel
            assert panel["message"] and "no data" in panel["message"].lower(), panel
    assert data, "no panel with data on this dashboard"
    if dashboard == "kafka":
        assert len(failed) == 1
    if dashboard == "mesos":
        assert len(empty) == 1

    # The alert line names the firing alert and its node, and not the pending one.
    assert FIRING["alertname"] in seen["alerts_text"]
    assert FIRING["node"] in seen["alerts_text"]
    assert PENDING["alertname"] not in seen["alerts_text"]

    # Everything went through auth, same origin, and only to the page and the API.
    new_paths = prometheus.paths[before:]
    assert "/api/v1/query_range" in new_paths
    assert "/api/v1/alerts" in new_paths
    assert all(p.startswith(("/user/", "/api/v1/")) for p in new_paths), set(new_paths)
    assert prometheus.unauthorized > 0
    for asked in prometheus.ranges:
        assert asked["end"] - asked["start"] == 15 * 60
        assert 120 <= (asked["end"] - asked["start"]) / asked["step"] <= 200

    assert shot.stat().st_size > 10_000
    assert png_colour_count(shot) > 50, "screenshot looks blank"


@pytest.mark.timeout(120)
def test_tabs_switch_in_place_and_refresh_on_their_own(prometheus: FakePrometheus) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
            page = context.new_page()
            # A controlled clock: the 15 s refresh is run through instead of waited for.
            page.clock.install()
            page.goto(_page_url(prometheus))  # no hash: the overview is the default
            page.wait_for_function(READY_JS, arg="overview", polling=100)
            assert page.locator("#stack").inner_text() == STACK

            kafka = page.get_by_role("link", name="Kafka", exact=True)
            kafka.click()
            page.wait_for_function(READY_JS, arg="kafka", polling=100)
            assert page.url.endswith("#kafka")
            assert kafka.get_attribute("aria-current") == "page"
            overview = page.get_by_role("link", name="Overview", exact=True)
            assert overview.get_attribute("aria-current") is None
            loaded = int(page.evaluate("document.body.dataset.loaded"))
            assert loaded == 2

            page.clock.run_for(16_000)
            page.wait_for_function(
                f"() => Number(document.body.dataset.loaded) > {loaded}", polling=100
            )
            page.wait_for_function(READY_JS, arg="kafka", polling=100)
        finally:
            browser.close()
