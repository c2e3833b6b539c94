"""The metrics bridge (roles/metrics/files/smack-metrics-bridge).

Its conversion of every real Mesos and Marathon metrics sample is checked by a strict parser of
the Prometheus text format written here (plus prometheus_client's parser when the venv has it);
then the script itself runs on 127.0.0.1 against a local source that, like the captured
Marathon, wants basic auth (Jetty's 401 page otherwise) and answers chunked.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import http.client
import importlib.machinery
import importlib.util
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_DIR / "roles" / "metrics" / "files" / "smack-metrics-bridge"
# The same override as the stand-ins' harness, which this module does not import to stay small.
REFERENCE = Path(os.environ.get("SMACK_REFERENCE_DIR") or PROJECT_DIR / "tests" / "reference")
MESOS = REFERENCE / "real-mesos-samples"
MARATHON = REFERENCE / "real-marathon-samples"
MESOS_SAMPLES = [
    "master-metrics-snapshot.json",
    "master-metrics-snapshot.raw.json",
    "agent-metrics-snapshot.json",
    "agent-metrics-snapshot.raw.json",
]
MARATHON_SAMPLES = [
    f"{stem}{suffix}"
    for stem in ("metrics", "metrics-after-hello", "auth-metrics-ok")
    for suffix in (".json", ".raw.json")
]
USER = "admin"
PASSWORD = "Br1dge:s3cret-not-in-logs"  # noqa: S105 - the test source's own credential


def _load_bridge() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("smack_metrics_bridge", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


BRIDGE = _load_bridge()


def mesos_text(snapshot: Any) -> str:
    return str(BRIDGE.mesos_text(snapshot))


def marathon_text(doc: Any) -> str:
    return str(BRIDGE.marathon_text(doc))


def _prometheus_parser() -> Callable[[str], Any] | None:
    # Not a dependency of the project: used as a second opinion when the venv happens to have it.
    try:
        from prometheus_client.parser import (  # type: ignore[import-not-found,unused-ignore]
            text_string_to_metric_families,
        )
    except ImportError:
        return None
    return text_string_to_metric_families  # type: ignore[no-any-return,unused-ignore]


PROMETHEUS_PARSER = _prometheus_parser()


# ----- a strict reader of the text exposition format 0.0.4 ----------------------------------

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')
VALUE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf")
SAMPLE = re.compile(r"(?P<name>[^{} ]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)(?: -?\d+)?")
COMMENT = re.compile(r"# (?P<keyword>HELP|TYPE) (?P<name>\S+)(?: (?P<rest>.*))?")
HELP_TEXT = re.compile(r"(?:[^\\\n]|\\[\\n])*")
KINDS = {"counter", "gauge", "summary", "histogram", "untyped"}
ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


@dataclass
class Family:
    kind: str
    help: str | None
    samples: dict[str, float] = field(default_factory=dict)


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    labels: list[tuple[str, str]] = []
    pos = 0
    while True:
        match = LABEL.match(text, pos)
        assert match, f"bad label at {text[pos:]!r}"
        assert not match.group(1).startswith("__"), f"reserved label name in {text!r}"
        pos, value = match.end(), []
        while True:
            assert pos < len(text), f"unterminated label value in {text!r}"
            char = text[pos]
            if char == "\\":
                escaped = text[pos + 1 : pos + 2]
                assert escaped in ESCAPES, f"bad escape in label value {text!r}"
                value.append(ESCAPES[escaped])
                pos += 2
            elif char == '"':
                pos += 1
                break
            else:
                value.append(char)
                pos += 1
        labels.append((match.group(1), "".join(value)))
        if pos == len(text):
            break
        assert text[pos] == ",", f"labels not separated by commas in {text!r}"
        pos += 1
    names = [name for name, _ in labels]
    assert len(names) == len(set(names)), f"label given twice in {text!r}"
    return tuple(sorted(labels))


def series_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    return name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else "")


def family_of(name: str, families: dict[str, Family]) -> str | None:
    if name in families:
        return name
    for suffix, kinds in (
        ("_count", {"summary", "histogram"}),
        ("_sum", {"summary", "histogram"}),
        ("_bucket", {"histogram"}),
    ):
        base = name.removesuffix(suffix)
        if base != name and base in families and families[base].kind in kinds:
            return base
    return None


def check_exposition(text: str) -> dict[str, Family]:
    """Every family of a valid exposition, or an AssertionError naming the first problem."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    current: str | None = None
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number} {line!r}"
        assert line, f"{where}: empty line"
        if line.startswith("#"):
            comment = COMMENT.fullmatch(line)
            assert comment, f"{where}: only HELP and TYPE comments are expected"
            name, rest = comment["name"], comment["rest"] or ""
            assert NAME.fullmatch(name), f"{where}: invalid metric name"
            owner = family_of(name, families)
            assert owner is None or not families[owner].samples, (
                f"{where}: comes after samples of {owner}"
            )
            if comment["keyword"] == "HELP":
                assert name not in helps, f"{where}: second HELP for {name}"
                assert HELP_TEXT.fullmatch(rest), f"{where}: HELP text badly escaped"
                helps[name] = re.sub(r"\\(.)", lambda m: ESCAPES[m[1]], rest)
            else:
                assert rest in KINDS, f"{where}: unknown type"
                assert name not in families, f"{where}: second TYPE for {name}"
                families[name] = Family(rest, helps.get(name))
                current = name
            continue
        sample = SAMPLE.fullmatch(line)
        assert sample, f"{where}: not `name{{labels}} value`"
        name = sample["name"]
        assert NAME.fullmatch(name), f"{where}: invalid metric name"
        assert VALUE.fullmatch(sample["value"]), f"{where}: value Prometheus cannot parse"
        value = float(sample["value"].replace("Inf", "inf"))
        labels = parse_labels(sample["labels"]) if sample["labels"] is not None else ()
        owner = family_of(name, families)
        assert owner is not None, f"{where}: no TYPE line before this sample"
        assert owner == current, f"{where}: {owner}'s samples are not one group after its TYPE"
        family = families[owner]
        key = series_key(name, labels)
        assert key not in family.samples, f"{where}: duplicate series"
        if family.kind == "counter":
            assert value >= 0, f"{where}: negative or NaN counter"
        if family.kind == "summary" and name == owner:
            quantile = dict(labels).get("quantile")
            assert quantile is not None, f"{where}: summary sample without quantile"
            assert 0 <= float(quantile) <= 1, f"{where}: quantile out of range"
        family.samples[key] = value
    for name, family in families.items():
        assert family.samples, f"{name} has a TYPE line but no sample"
    if PROMETHEUS_PARSER is not None:
        parsed = {f.name for f in PROMETHEUS_PARSER(text)}
        assert len(parsed) == len(families), "prometheus_client sees other families"
    return families


def values(families: dict[str, Family]) -> dict[str, float]:
    return {key: v for family in families.values() for key, v in family.samples.items()}


# ----- the checker itself rejects what Prometheus would --------------------------------------

GOOD = "# HELP a_total An a.\n# TYPE a_total counter\na_total 1.0\n"


@pytest.mark.parametrize(
    "text",
    [
        GOOD.rstrip("\n"),
        GOOD + "# TYPE a_total counter\n",
        GOOD + "a_total 2.0\n".replace("a_total", "b"),
        "# TYPE 1a gauge\n1a 1\n",
        "# TYPE a gauge\na nan\n",
        "# TYPE a gauge\na 1_000\n",
        "# TYPE a gauge\na 1\na 2\n",
        '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n',
        '# TYPE a gauge\na{x="say "hi""} 1\n',
        '# TYPE a gauge\na{x="\\t"} 1\n',
        "# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n",
        "# TYPE a gauge\na 1\n# HELP a late\n",
        "# HELP a bad \\t escape\n# TYPE a gauge\na 1\n",
        "# TYPE a counter\na -1\n",
        "# TYPE a summary\na 1\n",
        "# TYPE a gauge\n\na 1\n",
        "# just a comment\n# TYPE a gauge\na 1\n",
        "# TYPE a gauge\n",
    ],
)
def test_checker_rejects_invalid_exposition(text: str) -> None:
    with pytest.raises(AssertionError):
        check_exposition(text)


def test_checker_accepts_valid_exposition() -> None:
    text = (
        GOOD
        + '# TYPE s summary\ns{quantile="0.5"} NaN\ns{quantile="0.9"} +Inf\ns_count 3\n'
        + '# HELP g A \\\\ and a \\n.\n# TYPE g gauge\ng{x="a\\"b\\\\c\\nd",y=""} -1.5e-07\n'
    )
    families = check_exposition(text)
    assert families["g"].help == "A \\ and a \n."
    assert values(families)['g{x="a"b\\c\nd",y=""}'] == -1.5e-07
    assert families["s"].samples["s_count"] == 3


# ----- conversion of the real samples --------------------------------------------------------


def mesos_rule(key: str) -> str:
    """The brief's naming rule, written independently of the script's."""
    return "mesos_" + re.sub("_+", "_", re.sub("[^a-zA-Z0-9_]", "_", key)).strip("_").lower()


@pytest.mark.parametrize("sample", MESOS_SAMPLES)
def test_every_mesos_sample_converts_to_valid_gauges(sample: str) -> None:
    snapshot = json.loads((MESOS / sample).read_text())
    families = check_exposition(mesos_text(snapshot))
    assert len(families) == len(snapshot), "a real metric was dropped or invented"
    for key, value in snapshot.items():
        family = families[mesos_rule(key)]
        assert family.kind == "gauge"
        assert family.help == f"Mesos metric {key}"
        assert family.samples == {mesos_rule(key): float(value)}


def test_mesos_master_values() -> None:
    snapshot = json.loads((MESOS / "master-metrics-snapshot.raw.json").read_text())
    got = values(check_exposition(mesos_text(snapshot)))
    assert got["mesos_master_slaves_active"] == snapshot["master/slaves_active"] == 1
    assert got["mesos_master_elected"] == snapshot["master/elected"] == 1
    assert (
        got["mesos_allocator_mesos_allocation_run_latency_ms_p50"]
        == snapshot["allocator/mesos/allocation_run_latency_ms/p50"]
    )
    assert got["mesos_master_uptime_secs"] == snapshot["master/uptime_secs"]


def test_mesos_agent_values() -> None:
    snapshot = json.loads((MESOS / "agent-metrics-snapshot.raw.json").read_text())
    got = values(check_exposition(mesos_text(snapshot)))
    assert got["mesos_slave_registered"] == snapshot["slave/registered"] == 1
    assert got["mesos_slave_tasks_running"] == snapshot["slave/tasks_running"]
    assert got["mesos_slave_cpus_total"] == snapshot["slave/cpus_total"]
    assert got["mesos_system_mem_total_bytes"] == snapshot["system/mem_total_bytes"]


@pytest.mark.parametrize("sample", MARATHON_SAMPLES)
def test_every_marathon_sample_converts_completely(sample: str) -> None:
    doc = json.loads((MARATHON / sample).read_text())
    families = check_exposition(marathon_text(doc))
    distributions = len(doc["timers"]) + len(doc["histograms"])
    expected = len(doc["counters"]) + len(doc["gauges"]) + 2 * len(doc["meters"])
    assert len(families) == expected + 3 * distributions, "a real metric was dropped or invented"
    kinds = {name: family.kind for name, family in families.items()}
    assert all(k == "counter" for n, k in kinds.items() if n.endswith("_total"))
    assert sum(k == "summary" for k in kinds.values()) == distributions
    assert all(name.startswith("marathon_") for name in families)
    for name, family in families.items():
        assert family.help is not None
        source = family.help.split()[1]
        assert any(source in doc[section] for section in doc if section != "version"), name


def test_marathon_values() -> None:
    doc = json.loads((MARATHON / "metrics-after-hello.raw.json").read_text())
    got = values(check_exposition(marathon_text(doc)))
    counters, gauges, meters, timers = (doc[k] for k in ("counters", "gauges", "meters", "timers"))
    assert got["marathon_mesos_offers_incoming_total"] == 19
    assert (
        got["marathon_mesos_offers_incoming_total"]
        == (counters["marathon.mesos.offers.incoming.counter"]["count"])
    )
    assert (
        got["marathon_http_responses_size_bytes_total"]
        == (counters["marathon.http.responses.size.counter.bytes"]["count"])
    )
    assert got["marathon_jvm_threads_timed_waiting"] == 13
    assert (
        got["marathon_jvm_threads_timed_waiting"]
        == (gauges["marathon.jvm.threads.timed-waiting.gauge"]["value"])
    )
    assert got["marathon_uptime_seconds"] == gauges["marathon.uptime.gauge.seconds"]["value"]
    assert (
        got["marathon_jvm_memory_pools_codeheap_non_nmethods_used_bytes"]
        == (gauges["marathon.jvm.memory.pools.codeheap-'non-nmethods'.used.gauge.bytes"]["value"])
    )
    meter = meters["marathon.http.responses.2xx.rate.meter"]
    assert got["marathon_http_responses_2xx_total"] == meter["count"]
    assert got["marathon_http_responses_2xx_m1_rate"] == meter["m1_rate"]
    timer = timers["marathon.http.requests.duration.timer.seconds"]
    base = "marathon_http_requests_duration_seconds"
    assert got[f'{base}{{quantile="0.99"}}'] == timer["p99"]
    assert got[f'{base}{{quantile="0.5"}}'] == timer["p50"]
    assert got[f"{base}_count"] == timer["count"] == 68
    assert got[f"{base}_mean"] == timer["mean"]
    assert got[f"{base}_max"] == timer["max"]


# ----- odd values, clashes, escaping ---------------------------------------------------------


def test_mesos_odd_values() -> None:
    raw = (
        '{"master/elected": true, "master/recovered": false, "a/null": null, "a/text": "x",'
        ' "a/nan": NaN, "a/inf": Infinity, "a/minus_inf": -Infinity, "a/list": [1],'
        ' "a/object": {"b": 1}, "Odd Key//With-Stuff:": 3, "a/big": 12345678901,'
        ' "a/small": 1e-07}'
    )
    families = check_exposition(mesos_text(json.loads(raw)))
    got = values(families)
    assert got == {
        "mesos_master_elected": 1.0,
        "mesos_master_recovered": 0.0,
        "mesos_a_big": 12345678901.0,
        "mesos_a_small": 1e-07,
        "mesos_odd_key_with_stuff": 3.0,
        "mesos_a_inf": math.inf,
        "mesos_a_minus_inf": -math.inf,
        "mesos_a_nan": got["mesos_a_nan"],
    }
    assert math.isnan(got["mesos_a_nan"])
    text = mesos_text(json.loads(raw))
    assert "\nmesos_a_nan NaN\n" in text and "\nmesos_a_inf +Inf\n" in text
    assert "\nmesos_a_minus_inf -Inf\n" in text
    assert "\nmesos_a_big 12345678901.0\n" in text and "\nmesos_a_small 1e-07\n" in text


def test_marathon_odd_values() -> None:
    doc = {
        "version": "4.0.0",
        "counters": {
            "marathon.ok.counter": {"count": 2},
            "marathon.null.counter": {"count": None},
            "marathon.no-count.counter": {},
            "marathon.not-an-object.counter": 5,
        },
        "gauges": {
            "marathon.null.gauge": {"value": None},
            "marathon.text.gauge": {"value": "many"},
            "marathon.nan-text.gauge": {"value": "NaN"},
            "marathon.inf-text.gauge": {"value": "-Infinity"},
            "marathon.nan.gauge": {"value": math.nan},
            "marathon.list.gauge": {"value": [1, 2]},
            "marathon.flag.gauge": {"value": True},
            "jvm.unprefixed.gauge.bytes": {"value": 7},
        },
        "histograms": {
            "marathon.sizes.histogram": {"count": 4, "p50": 2.0, "p99": None, "mean": "x"},
        },
        "meters": {"marathon.calls.rate.meter": {"count": 3, "m1_rate": None}},
        "timers": ["not", "an", "object"],
    }
    families = check_exposition(marathon_text(doc))
    got = values(families)
    assert math.isnan(got.pop("marathon_nan_text"))
    assert math.isnan(got.pop("marathon_nan"))
    assert got == {
        "marathon_ok_total": 2.0,
        "marathon_inf_text": -math.inf,
        "marathon_flag": 1.0,
        "marathon_jvm_unprefixed_bytes": 7.0,
        'marathon_sizes{quantile="0.5"}': 2.0,
        "marathon_sizes_count": 4.0,
        "marathon_calls_total": 3.0,
    }
    assert families["marathon_sizes"].kind == "summary"


def test_clashing_names_keep_the_first_and_stay_valid() -> None:
    got = values(check_exposition(mesos_text({"a/b": 1, "a-b": 2, "A_B": 3, "a__b": 4})))
    assert got == {"mesos_a_b": 3.0}  # "A_B" sorts first
    doc = {
        "counters": {"marathon.x.counter": {"count": 1}},
        "gauges": {"marathon.x.gauge": {"value": 2}, "marathon.t-count.gauge": {"value": 5}},
        "timers": {"marathon.t.timer": {"count": 9, "p50": 1.0, "mean": 1.0}},
    }
    got = values(check_exposition(marathon_text(doc)))
    assert got["marathon_x_total"] == 1
    assert "marathon_x" not in got  # would read as counter marathon_x_total's family
    assert got["marathon_t_count"] == 5
    assert 'marathon_t{quantile="0.5"}' not in got


def test_help_text_and_label_values_are_escaped() -> None:
    key = 'odd\\key "quoted"\nsecond line'
    families = check_exposition(mesos_text({key: 1}))
    assert families["mesos_odd_key_quoted_second_line"].help == f"Mesos metric {key}"
    assert BRIDGE.escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert BRIDGE.escape_help('a"b\\c\nd') == 'a"b\\\\c\\nd'


@pytest.mark.parametrize("doc", [[], "text", None, {"version": "4.0.0"}, {"gauges": []}])
def test_marathon_rejects_what_is_not_a_metrics_document(doc: Any) -> None:
    with pytest.raises(ValueError, match="not a Marathon metrics document"):
        marathon_text(doc)


@pytest.mark.parametrize("doc", [[], "text", None, 1])
def test_mesos_rejects_what_is_not_a_snapshot(doc: Any) -> None:
    with pytest.raises(ValueError, match="JSON object"):
        mesos_text(doc)


def test_script_uses_the_standard_library_only() -> None:
    tree = ast.parse(SCRIPT.read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules - {"__future__"} <= sys.stdlib_module_names
    assert SCRIPT.read_text().startswith("#!/usr/bin/python3\n")
    assert os.access(SCRIPT, os.X_OK)


# ----- the script as a service ---------------------------------------------------------------


class Source:
    """A metrics endpoint on 127.0.0.1 like Marathon's: basic auth or Jetty's 401 page, the JSON
    chunked. `mode` "ok" serves the sample, "error" answers 500."""

    def __init__(self, body: bytes, credentials: tuple[str, str] | None, chunked: bool) -> None:
        self.mode = "ok"
        self.served: list[int] = []
        expected = None
        if credentials:
            expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        unauthorized = (MARATHON / "auth-metrics-noauth.body").read_bytes()
        source = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if expected and self.headers.get("Authorization") != expected:
                    self.reply(
                        401,
                        "text/html;charset=iso-8859-1",
                        unauthorized,
                        [("WWW-Authenticate", 'basic realm="null"')],
                    )
                elif source.mode != "ok":
                    self.reply(500, "application/json", b'{"message":"boom"}')
                elif chunked:
                    source.served.append(200)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for start in range(0, len(body), 1000):
                        chunk = body[start : start + 1000]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    source.served.append(200)
                    self.reply(200, "application/json", body)

            def reply(
                self,
                status: int,
                kind: str,
                data: bytes,
                extra: list[tuple[str, str]] | None = None,
            ) -> None:
                if status != 200:
                    source.served.append(status)
                self.send_response(status)
                for key, value in [("Content-Type", kind), *(extra or [])]:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Answer:
    status: int
    content_type: str
    text: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bridge:
    def __init__(self, args: list[str], stderr: Path) -> None:
        self.port = free_port()
        self.stderr_path = stderr
        with stderr.open("wb") as sink:
            self.proc = subprocess.Popen(
                [str(SCRIPT), *args, "--listen", f"127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )

    def get(self, path: str) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return Answer(
                response.status, response.getheader("Content-Type", ""), response.read().decode()
            )
        finally:
            conn.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"bridge exited: {self.stderr()}"
            with contextlib.suppress(OSError):
                if self.get("/").status == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"bridge did not answer within 10 s: {self.stderr()}")

    def metrics(self) -> dict[str, float]:
        answer = self.get("/metrics")
        assert answer.status == 200
        assert answer.content_type == "text/plain; version=0.0.4; charset=utf-8"
        return values(check_exposition(answer.text))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


@pytest.fixture
def sources() -> Iterator[Callable[..., Source]]:
    started: list[Source] = []

    def start(
        body: bytes, credentials: tuple[str, str] | None = None, chunked: bool = True
    ) -> Source:
        started.append(Source(body, credentials, chunked))
        return started[-1]

    try:
        yield start
    finally:
        for source in started:
            source.stop()


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[Callable[..., Bridge]]:
    started: list[Bridge] = []

    def start(*args: str, ready: bool = True) -> Bridge:
        bridge = Bridge(list(args), tmp_path / f"bridge-{len(started)}.stderr")
        started.append(bridge)
        if ready:
            bridge.wait_ready()
        return bridge

    try:
        yield start
    finally:
        for bridge in started:
            if bridge.proc.poll() is None:
                bridge.proc.kill()
                bridge.proc.wait()


@pytest.fixture
def credentials_file(tmp_path: Path) -> Path:
    path = tmp_path / "marathon-credentials"
    path.write_text(f"{USER}:{PASSWORD}\n")
    path.chmod(0o600)
    return path


MARATHON_BODY = (MARATHON / "auth-metrics-ok.raw.json").read_bytes()
MARATHON_DOC = json.loads(MARATHON_BODY)


def test_bridge_serves_marathon_behind_basic_auth(
    sources: Callable[..., Source], bridges: Callable[..., Bridge], credentials_file: Path
) -> None:
    source = sources(MARATHON_BODY, (USER, PASSWORD))
    bridge = bridges(
        "--source", "marathon", "--url", source.url, "--credentials-file", str(credentials_file)
    )
    got = bridge.metrics()
    assert got["smack_bridge_up"] == 1
    assert 0 <= got["smack_bridge_scrape_duration_seconds"] < 5
    offers = MARATHON_DOC["counters"]["marathon.mesos.offers.incoming.counter"]["count"]
    assert got["marathon_mesos_offers_incoming_total"] == offers
    threads = MARATHON_DOC["gauges"]["marathon.jvm.threads.timed-waiting.gauge"]["value"]
    assert got["marathon_jvm_threads_timed_waiting"] == threads
    assert source.served == [200]
    assert bridge.get("/metrics?debug=1").status == 200
    assert source.served == [200, 200]


def test_bridge_reports_a_failing_source_as_down_and_logs_each_change_once(
    sources: Callable[..., Source], bridges: Callable[..., Bridge], credentials_file: Path
) -> None:
    source = sources(MARATHON_BODY, (USER, PASSWORD))
    bridge = bridges(
        "--source", "marathon", "--url", source.url, "--credentials-file", str(credentials_file)
    )
    assert bridge.metrics()["smack_bridge_up"] == 1
    assert bridge.metrics()["smack_bridge_up"] == 1
    source.mode = "error"
    for _ in range(3):
        got = bridge.metrics()
        assert got.keys() == {"smack_bridge_up", "smack_bridge_scrape_duration_seconds"}
        assert got["smack_bridge_up"] == 0
    source.mode = "ok"
    assert bridge.metrics()["smack_bridge_up"] == 1
    source.stop()
    for _ in range(2):
        got = bridge.metrics()
        assert got.keys() == {"smack_bridge_up", "smack_bridge_scrape_duration_seconds"}
        assert got["smack_bridge_up"] == 0
    assert bridge.stop() == 0
    log = bridge.stderr()
    down = [line for line in log.splitlines() if "source down" in line]
    assert len(down) == 2, log
    assert "HTTP 500" in down[0] and "ConnectionRefusedError" in down[1]
    assert sum("fetched and converted" in line for line in log.splitlines()) == 2, log
    assert PASSWORD not in log and PASSWORD.split(":")[1] not in log
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in log


def test_bridge_without_credentials_is_refused_and_says_so(
    sources: Callable[..., Source], bridges: Callable[..., Bridge]
) -> None:
    source = sources(MARATHON_BODY, (USER, PASSWORD))
    bridge = bridges("--source", "marathon", "--url", source.url)
    for _ in range(2):
        answer = bridge.get("/metrics")
        assert answer.status == 200
        assert values(check_exposition(answer.text))["smack_bridge_up"] == 0
    assert source.served == [401, 401]
    assert bridge.stop() == 0
    assert sum("source down: HTTP 401" in line for line in bridge.stderr().splitlines()) == 1


def test_bridge_serves_mesos(
    sources: Callable[..., Source], bridges: Callable[..., Bridge]
) -> None:
    body = (MESOS / "master-metrics-snapshot.raw.json").read_bytes()
    source = sources(body, chunked=False)
    bridge = bridges("--source", "mesos", "--url", source.url, "--timeout", "2")
    got = bridge.metrics()
    assert got["smack_bridge_up"] == 1
    assert got["mesos_master_elected"] == json.loads(body)["master/elected"] == 1
    assert got["mesos_master_slaves_active"] == json.loads(body)["master/slaves_active"]


def test_bridge_answers_marathon_json_on_a_mesos_bridge_as_down(
    sources: Callable[..., Source], bridges: Callable[..., Bridge]
) -> None:
    source = sources(b'["not", "a", "snapshot"]', chunked=False)
    bridge = bridges("--source", "mesos", "--url", source.url)
    assert bridge.metrics()["smack_bridge_up"] == 0
    assert bridge.stop() == 0
    assert "source down: ValueError" in bridge.stderr()


def test_bridge_paths_and_sigterm(
    sources: Callable[..., Source], bridges: Callable[..., Bridge]
) -> None:
    source = sources(b"{}", chunked=False)
    bridge = bridges("--source", "mesos", "--url", source.url)
    assert bridge.get("/other").status == 404
    assert bridge.get("/metrics/more").status == 404
    root = bridge.get("/")
    assert root.status == 200 and "/metrics" in root.text
    started = time.monotonic()
    assert bridge.stop() == 0
    assert time.monotonic() - started < 5


def test_bad_credentials_file_stops_the_bridge_without_quoting_it(
    tmp_path: Path, bridges: Callable[..., Bridge]
) -> None:
    path = tmp_path / "credentials"
    path.write_text("only-a-password-no-colon\n")
    bridge = bridges(
        "--source",
        "marathon",
        "--url",
        "http://127.0.0.1:9/metrics",
        "--credentials-file",
        str(path),
        ready=False,
    )
    assert bridge.proc.wait(timeout=10) != 0
    assert "user:password" in bridge.stderr()
    assert "only-a-password-no-colon" not in bridge.stderr()


def test_credentials_in_the_url_are_refused(bridges: Callable[..., Bridge]) -> None:
    bridge = bridges(
        "--source", "marathon", "--url", f"http://{USER}:{PASSWORD}@127.0.0.1:9/", ready=False
    )
    assert bridge.proc.wait(timeout=10) == 2
    assert "--credentials-file" in bridge.stderr()
    assert PASSWORD not in bridge.stderr()
