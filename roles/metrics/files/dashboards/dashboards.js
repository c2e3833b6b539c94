/*
 * SMACK dashboards: a few uPlot line charts over Prometheus' HTTP API.
 *
 * The page lives at /user/ on the Prometheus web port (--web.user-assets), so the API is
 * one level up ("../api/v1/...") on the same origin and the basic-auth credentials the
 * browser already holds go along with every request. No URL here may be absolute.
 *
 * For tests (and anyone curious) every panel element carries, after each refresh,
 * data-series, data-points and, when a query failed, data-error; document.body carries
 * data-dashboard (the tab shown) and data-loaded (refreshes completed so far). A panel
 * whose queries are still in flight has aria-busy="true".
 */
"use strict";

(function () {
  // ---------------------------------------------------------------------------------------
  // The dashboards. Change panels here: a title, the unit shown on the y axis, and the
  // PromQL expressions to draw. An expression is a string, or {label, expr} when several
  // expressions share a panel and their series need telling apart in the legend.
  // Units starting with "bytes" are scaled in powers of 1024, "%" panels run 0 to 100.
  // ---------------------------------------------------------------------------------------
  const DASHBOARDS = [
    {
      id: "overview",
      title: "Overview",
      panels: [
        { title: "Targets up, per job", unit: "targets", queries: ["sum by (job) (up)"] },
        {
          title: "Node CPU busy",
          unit: "%",
          queries: ['100 * (1 - avg by (node) (rate(node_cpu_seconds_total{mode="idle"}[2m])))'],
        },
        { title: "Node memory available", unit: "bytes", queries: ["node_memory_MemAvailable_bytes"] },
        {
          title: "Root disk used",
          unit: "%",
          queries: [
            '100 * (1 - node_filesystem_avail_bytes{mountpoint="/"}'
              + ' / node_filesystem_size_bytes{mountpoint="/"})',
          ],
        },
        {
          title: "Kafka messages in, per broker",
          unit: "msg/s",
          // The all-topics aggregate is the series without a topic label.
          queries: ['sum by (node) (rate(kafka_messages_in_total{topic=""}[2m]))'],
        },
        {
          title: "Cassandra client requests",
          unit: "req/s",
          queries: ["sum by (scope) (rate(cassandra_client_requests_total[2m]))"],
        },
        {
          title: "ZooKeeper servers by role",
          unit: "servers",
          queries: ["count by (role) (zookeeper_role == 1)"],
        },
        {
          title: "Node load (1 min)",
          unit: "load",
          queries: ["node_load1"],
        },
      ],
    },
    {
      id: "kafka",
      title: "Kafka",
      panels: [
        {
          title: "Messages in, per broker",
          unit: "msg/s",
          queries: ['sum by (node) (rate(kafka_messages_in_total{topic=""}[2m]))'],
        },
        {
          title: "Bytes in and out, all brokers",
          unit: "bytes/s",
          queries: [
            { label: "in", expr: 'sum(rate(kafka_bytes_in_total{topic=""}[2m]))' },
            { label: "out", expr: 'sum(rate(kafka_bytes_out_total{topic=""}[2m]))' },
          ],
        },
        {
          title: "Partitions at risk",
          unit: "partitions",
          queries: [
            { label: "under-replicated", expr: "sum(kafka_under_replicated_partitions)" },
            // Only the controller reports offline partitions; the others report 0.
            { label: "offline", expr: "max(kafka_offline_partitions)" },
          ],
        },
        {
          title: "Active controller (1 = controller)",
          unit: "state",
          queries: ["kafka_active_controller"],
        },
        {
          title: "Broker JVM heap used",
          unit: "bytes",
          queries: ['jvm_memory_used_bytes{job="kafka", area="heap"}'],
        },
        {
          title: "Broker garbage collections",
          unit: "GC/s",
          queries: ['sum by (node) (rate(jvm_gc_collection_seconds_count{job="kafka"}[2m]))'],
        },
        {
          title: "Broker process CPU",
          unit: "cores",
          queries: ['rate(process_cpu_seconds_total{job="kafka"}[2m])'],
        },
      ],
    },
    {
      id: "cassandra",
      title: "Cassandra & ZooKeeper",
      panels: [
        {
          title: "Client requests",
          unit: "req/s",
          queries: ["sum by (scope) (rate(cassandra_client_requests_total[2m]))"],
        },
        {
          title: "Client request failures",
          unit: "req/s",
          queries: ["sum by (scope) (rate(cassandra_client_request_failures_total[2m]))"],
        },
        { title: "Data load per node", unit: "bytes", queries: ["cassandra_storage_load_bytes"] },
        { title: "Pending compactions", unit: "tasks", queries: ["cassandra_pending_compactions"] },
        {
          title: "Cassandra JVM heap used",
          unit: "bytes",
          queries: ['jvm_memory_used_bytes{job="cassandra", area="heap"}'],
        },
        {
          title: "Cassandra garbage collections",
          unit: "GC/s",
          queries: ['sum by (node) (rate(jvm_gc_collection_seconds_count{job="cassandra"}[2m]))'],
        },
        {
          title: "ZooKeeper client connections",
          unit: "connections",
          queries: ["zookeeper_alive_connections"],
        },
        {
          title: "ZooKeeper outstanding requests",
          unit: "requests",
          queries: ["zookeeper_outstanding_requests"],
        },
        { title: "ZooKeeper znodes", unit: "znodes", queries: ["zookeeper_znode_count"] },
      ],
    },
    {
      id: "pipeline",
      title: "Pipeline",
      panels: [
        {
          title: "Kafka messages in, per topic",
          unit: "msg/s",
          queries: ['sum by (topic) (rate(kafka_messages_in_total{topic!=""}[2m]))'],
        },
        {
          title: "Spark workers and applications",
          unit: "count",
          // max(): a standby master reports zeros, the active one the real numbers.
          queries: [
            { label: "alive workers", expr: "max(spark_master_aliveworkers)" },
            { label: "applications", expr: "max(spark_master_apps)" },
            { label: "waiting applications", expr: "max(spark_master_waitingapps)" },
          ],
        },
        {
          title: "Spark cores used, per worker",
          unit: "cores",
          queries: ["sum by (node) (spark_worker_coresused)"],
        },
        {
          title: "Spark executors, per worker",
          unit: "executors",
          queries: ["sum by (node) (spark_worker_executors)"],
        },
        {
          title: "Spark worker memory used",
          unit: "bytes",
          queries: ["sum by (node) (spark_worker_memused_mb) * 1048576"],
        },
        {
          title: "Cassandra writes, per node",
          unit: "writes/s",
          queries: ['sum by (node) (rate(cassandra_client_requests_total{scope="Write"}[2m]))'],
        },
      ],
    },
    {
      id: "mesos",
      title: "Mesos & Marathon",
      panels: [
        {
          title: "Leading master (1 = elected)",
          unit: "state",
          queries: ["mesos_master_elected"],
        },
        {
          title: "Agents",
          unit: "agents",
          // max(): only the elected master knows the agents; standbys report zeros.
          queries: [
            { label: "active", expr: "max(mesos_master_slaves_active)" },
            { label: "inactive", expr: "max(mesos_master_slaves_inactive)" },
          ],
        },
        {
          title: "Tasks running",
          unit: "tasks",
          queries: [
            { label: "cluster", expr: "max(mesos_master_tasks_running)" },
            { label: "agent", expr: "mesos_slave_tasks_running" },
          ],
        },
        {
          title: "CPUs used vs total",
          unit: "cpus",
          queries: [
            { label: "used", expr: "max(mesos_master_cpus_used)" },
            { label: "total", expr: "max(mesos_master_cpus_total)" },
          ],
        },
        {
          title: "Memory used vs total",
          unit: "bytes",
          // Mesos reports memory in MB.
          queries: [
            { label: "used", expr: "max(mesos_master_mem_used) * 1048576" },
            { label: "total", expr: "max(mesos_master_mem_total) * 1048576" },
          ],
        },
        { title: "Agent CPUs used", unit: "cpus", queries: ["mesos_slave_cpus_used"] },
        // Marathon's metric names change between releases: these two are the only ones used.
        {
          title: "Marathon offers received",
          unit: "offers/s",
          queries: [{ label: "offers", expr: "sum(rate(marathon_mesos_offers_incoming_total[2m]))" }],
        },
        {
          title: "Marathon JVM heap used",
          unit: "bytes",
          queries: ["marathon_jvm_memory_heap_used_bytes"],
        },
      ],
    },
  ];

  const RANGE_S = 15 * 60;
  // 180 steps over 15 minutes: 5 s, about one point per scrape at the usual 15 s or faster.
  const TARGET_POINTS = 180;
  const REFRESH_MS = 15 * 1000;
  // A stuck query must not hold the next refresh back forever.
  const FETCH_TIMEOUT_MS = 12 * 1000;
  const LEGEND_LABELS = ["node", "topic", "scope", "job", "area", "mode", "role"];
  const CHART_HEIGHT = 200;
  // Canvas text does not follow CSS, so the page's font stack is repeated here.
  const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif';
  const AXIS_LABEL_FONT = "600 " + AXIS_FONT;
  // Okabe-Ito based: tells series apart for most kinds of colour blindness.
  const PALETTE = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00",
    "#56b4e9", "#222222", "#8c6d31", "#7b4ea3", "#a6a6a6",
  ];

  // ---------------------------------------------------------------------------------------
  // Formatting
  // ---------------------------------------------------------------------------------------
  function trimNumber(v) {
    // Three significant digits is enough to read a chart; more is noise.
    return String(Number(v.toPrecision(3)));
  }

  function formatValue(unit, v) {
    if (v == null || !isFinite(v)) return "–";
    if (unit.startsWith("bytes")) {
      const suffix = unit.slice("bytes".length);
      const names = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
      let i = 0;
      let x = Math.abs(v);
      while (x >= 1024 && i < names.length - 1) { x /= 1024; i += 1; }
      return (v < 0 ? "-" : "") + trimNumber(x) + " " + names[i] + suffix;
    }
    const a = Math.abs(v);
    if (a >= 1e9) return trimNumber(v / 1e9) + "G";
    if (a >= 1e6) return trimNumber(v / 1e6) + "M";
    if (a >= 1e4) return trimNumber(v / 1e3) + "k";
    if (a === 0) return "0";
    return trimNumber(v);
  }

  const BYTE_INCRS = [];
  for (let p = 0; p < 6; p++) {
    for (let m = 1; m < 1024; m *= 2) BYTE_INCRS.push(m * 1024 ** p);
  }

  function latest(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }

  function axisLabel(unit) {
    return unit.startsWith("bytes") ? "bytes" + unit.slice("bytes".length) : unit;
  }

  function legendFor(query, metric, multiQuery) {
    const parts = [];
    if (query.label) parts.push(query.label);
    const key = LEGEND_LABELS.find((k) => metric[k] !== undefined && metric[k] !== "");
    if (key) parts.push(metric[key]);
    if (parts.length === 0) {
      parts.push(multiQuery ? query.expr : (metric.__name__ || "all"));
    }
    return parts.join(" · ");
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---------------------------------------------------------------------------------------
  // Prometheus API
  // ---------------------------------------------------------------------------------------
  async function promGet(path, params, signal) {
    const url = "../api/v1/" + path + (params ? "?" + new URLSearchParams(params) : "");
    let resp;
    try {
      resp = await fetch(url, {
        signal,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (err) {
      if (signal && signal.aborted) throw new Error("timed out after " + FETCH_TIMEOUT_MS / 1000 + " s");
      throw new Error("network error: " + err.message);
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      // Not JSON (a proxy's error page, a 401): the HTTP status is all there is to tell.
    }
    if (body && body.status === "error") {
      throw new Error(body.error || body.errorType || "HTTP " + resp.status);
    }
    if (!resp.ok) throw new Error(("HTTP " + resp.status + " " + resp.statusText).trim());
    if (!body || body.status !== "success") throw new Error("unexpected answer from Prometheus");
    return body.data;
  }

  // ---------------------------------------------------------------------------------------
  // Panels
  // ---------------------------------------------------------------------------------------
  const state = {
    dashboard: null,
    panels: [],
    generation: 0, // bumped on a tab switch so late answers for the old tab are dropped
    controller: null,
    running: false,
    refreshes: 0,
  };

  function normaliseQueries(panel) {
    return panel.queries.map((q) => (typeof q === "string" ? { expr: q } : q));
  }

  function buildPanel(def) {
    const section = el("section", { class: "panel", "aria-busy": "true" });
    const heading = el("h3", { class: "panel-title" }, def.title);
    const unit = el("span", { class: "panel-unit" }, def.unit ? " (" + def.unit + ")" : "");
    heading.appendChild(unit);
    const message = el("p", { class: "message", hidden: "" });
    const chart = el("div", { class: "chart" });
    const queries = normaliseQueries(def);
    section.setAttribute("data-queries", JSON.stringify(queries.map((q) => q.expr)));
    section.append(heading, message, chart);
    return { def, queries, section, message, chartEl: chart, chart: null, key: null };
  }

  function chartWidth(p) {
    return Math.max(240, Math.floor(p.chartEl.clientWidth || p.section.clientWidth - 24));
  }

  function chartOptions(p, labels) {
    const unit = p.def.unit || "";
    const yRange = unit === "%"
      ? (u, min, max) => [0, Math.max(100, max)]
      : (u, min, max) => uPlot.rangeNum(Math.min(0, min), Math.max(max, 1), 0.1, true);
    const y = {
      label: axisLabel(unit),
      labelSize: 18,
      labelFont: AXIS_LABEL_FONT,
      font: AXIS_FONT,
      stroke: "#444",
      grid: { stroke: "#eee" },
      ticks: { stroke: "#ccc" },
      values: (u, splits) => splits.map((v) => formatValue(unit, v)),
      // Wide enough for the longest tick label, so "512 MiB" is not cut off.
      size: (u, values) => 24 + 7 * Math.max(1, ...(values || []).map((s) => String(s).length)),
    };
    // Binary steps for bytes, so ticks land on 256 MiB, 512 MiB, 1 GiB, not on 954 MiB.
    if (unit.startsWith("bytes")) y.incrs = BYTE_INCRS;
    return {
      width: chartWidth(p),
      height: CHART_HEIGHT,
      series: [
        { value: (u, v, sidx, idx) => (idx == null ? "latest" : new Date(v * 1000).toLocaleTimeString()) },
        ...labels.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          // Away from the cursor the legend shows the latest value rather than a dash.
          value: (u, v, sidx, idx) => formatValue(unit, idx == null ? latest(u.data[sidx]) : v),
        })),
      ],
      axes: [{ font: AXIS_FONT, stroke: "#444", grid: { stroke: "#eee" }, ticks: { stroke: "#ccc" } }, y],
      scales: { y: { range: yRange } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
  }

  function showMessage(p, text, kind) {
    p.message.textContent = text;
    p.message.className = "message " + kind;
    p.message.hidden = false;
    if (kind === "error") p.message.setAttribute("role", "alert");
    else p.message.removeAttribute("role");
  }

  function dropChart(p) {
    if (p.chart) p.chart.destroy();
    p.chart = null;
    p.key = null;
  }

  async function loadPanel(p, range, signal, generation) {
    p.section.setAttribute("aria-busy", "true");
    const answers = await Promise.all(p.queries.map((q) =>
      promGet("query_range", { query: q.expr, start: range.start, end: range.end, step: range.step }, signal)
        .then((data) => ({ q, data }), (err) => ({ q, error: err.message }))));
    if (generation !== state.generation) return;
    try {
      render(p, range, answers);
    } catch (err) {
      // A panel that cannot be drawn must still say so, and must not stall the refresh.
      dropChart(p);
      const text = "Could not draw: " + err.message;
      showMessage(p, text, "error");
      p.section.setAttribute("data-error", text);
      p.section.setAttribute("data-series", "0");
      p.section.setAttribute("data-points", "0");
    }
    p.section.removeAttribute("aria-busy");
  }

  function render(p, range, answers) {
    // Prometheus puts samples at start + k*step, so each one has its own slot on one x axis.
    const xs = [];
    for (let t = range.start; t <= range.end; t += range.step) xs.push(t);
    const series = [];
    const errors = [];
    for (const a of answers) {
      if (a.error !== undefined) { errors.push(a.error); continue; }
      for (const r of (a.data && a.data.result) || []) {
        const ys = new Array(xs.length).fill(null);
        for (const [ts, raw] of r.values || []) {
          const i = Math.round((ts - range.start) / range.step);
          const v = parseFloat(raw);
          if (i >= 0 && i < xs.length && isFinite(v)) ys[i] = v;
        }
        series.push({ label: legendFor(a.q, r.metric || {}, p.queries.length > 1), ys });
      }
    }
    // Sorted, so a series keeps its colour from one refresh to the next.
    series.sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }));
    const points = series.reduce((n, s) => n + s.ys.filter((v) => v !== null).length, 0);

    if (errors.length) {
      const text = "Query failed: " + [...new Set(errors)].join("; ");
      showMessage(p, text, "error");
      p.section.setAttribute("data-error", text);
    } else {
      p.section.removeAttribute("data-error");
      if (series.length === 0) showMessage(p, "No data in the last 15 minutes.", "empty");
      else p.message.hidden = true;
    }

    if (series.length === 0) {
      dropChart(p);
    } else if (typeof uPlot === "undefined") {
      showMessage(p, "Chart library vendor/uPlot.iife.min.js did not load.", "error");
      p.section.setAttribute("data-error", "chart library missing");
    } else {
      const labels = series.map((s) => s.label);
      const key = JSON.stringify(labels);
      const data = [xs, ...series.map((s) => s.ys)];
      if (p.chart && p.key === key) {
        p.chart.setData(data);
      } else {
        dropChart(p);
        p.chart = new uPlot(chartOptions(p, labels), data, p.chartEl);
        p.key = key;
      }
    }
    p.section.setAttribute("data-series", String(series.length));
    p.section.setAttribute("data-points", String(points));
  }

  // ---------------------------------------------------------------------------------------
  // Alerts
  // ---------------------------------------------------------------------------------------
  async function loadAlerts(signal, generation) {
    const line = document.getElementById("alerts");
    let text;
    let kind;
    try {
      const data = await promGet("alerts", null, signal);
      const firing = (data.alerts || []).filter((a) => a.state === "firing");
      if (firing.length === 0) {
        text = "No alerts firing.";
        kind = "ok";
      } else {
        const names = firing.map((a) => {
          const labels = a.labels || {};
          const name = labels.alertname || "unnamed alert";
          return labels.node ? name + " on " + labels.node : name;
        }).sort();
        text = "Firing (" + firing.length + "): " + names.join(", ");
        kind = "firing";
      }
    } catch (err) {
      text = "Alerts unavailable: " + err.message;
      kind = "error";
    }
    if (generation !== state.generation) return;
    line.textContent = text;
    line.className = "alerts " + kind;
  }

  // ---------------------------------------------------------------------------------------
  // Refresh loop and tabs
  // ---------------------------------------------------------------------------------------
  function currentRange() {
    const step = Math.max(1, Math.ceil(RANGE_S / TARGET_POINTS));
    // Aligned to the step, so consecutive refreshes ask for the same sample times.
    const end = Math.floor(Date.now() / 1000 / step) * step;
    return { start: end - RANGE_S, end, step };
  }

  async function refresh() {
    const generation = state.generation;
    const controller = new AbortController();
    state.controller = controller;
    state.running = true;
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    const range = currentRange();
    try {
      await Promise.all([
        loadAlerts(controller.signal, generation),
        ...state.panels.map((p) => loadPanel(p, range, controller.signal, generation)),
      ]);
    } finally {
      clearTimeout(timer);
      if (generation === state.generation) state.running = false;
    }
    if (generation !== state.generation) return;
    state.refreshes += 1;
    const now = new Date();
    const time = document.getElementById("refreshed");
    time.textContent = now.toLocaleTimeString();
    time.setAttribute("datetime", now.toISOString());
    document.body.setAttribute("data-loaded", String(state.refreshes));
  }

  function tick() {
    // A refresh slower than the interval is left to finish rather than piled on.
    if (!state.running && !document.hidden) refresh();
  }

  function show(id) {
    const dash = DASHBOARDS.find((d) => d.id === id) || DASHBOARDS[0];
    if (state.controller) state.controller.abort();
    state.generation += 1;
    state.running = false;
    state.panels.forEach(dropChart);
    state.dashboard = dash;

    for (const link of document.querySelectorAll("#tabs a")) {
      if (link.getAttribute("href") === "#" + dash.id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.getElementById("dashboard-title").textContent = dash.title;
    const stack = new URLSearchParams(location.search).get("stack");
    document.title = ["SMACK", stack, dash.title].filter(Boolean).join(" · ");
    document.body.setAttribute("data-dashboard", dash.id);

    const grid = document.getElementById("panels");
    grid.replaceChildren();
    state.panels = dash.panels.map(buildPanel);
    for (const p of state.panels) grid.appendChild(p.section);
    refresh();
  }

  function resizeCharts() {
    for (const p of state.panels) {
      if (p.chart) p.chart.setSize({ width: chartWidth(p), height: CHART_HEIGHT });
    }
  }

  function init() {
    const stack = new URLSearchParams(location.search).get("stack");
    if (stack) {
      const s = document.getElementById("stack");
      s.textContent = stack;
      s.hidden = false;
    }
    const tabs = document.getElementById("tabs");
    for (const d of DASHBOARDS) {
      const li = el("li");
      li.appendChild(el("a", { href: "#" + d.id }, d.title));
      tabs.appendChild(li);
    }
    window.addEventListener("hashchange", () => show(location.hash.slice(1)));
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(resizeCharts, 150);
    });
    // Coming back to a hidden tab should not show numbers up to 15 s old.
    document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
    setInterval(tick, REFRESH_MS);
    show(location.hash.slice(1));
  }

  init();
})();
