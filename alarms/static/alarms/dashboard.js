// Staff dashboard: draws /api/v1/alerts/dashboard/ with Chart.js (served from vendor/), and fetches it
// again when /ws/alerts says an alarm or a device changed, at most once per refreshMs however many
// events arrive. After a reconnect it fetches once, for what it may have missed. Plain script, no build step;
// the visible text comes from the template (#dash-text).
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const words = document.getElementById("dash-text").dataset;
  const statusElement = document.getElementById("dash-status");
  const LEVEL_COLOURS = { 1: "#c62828", 2: "#ef6c00", 3: "#1565c0", 4: "#757575" };
  const PALETTE = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#9e9d24", "#5d4037", "#ad1457", "#455a64"];
  const REFRESH_ON = new Set(["alarm.created", "alarm.updated", "alarm.resolved", "device.status"]);
  const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    timeZone: config.timeZone, month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  let charts = null;
  let lastFetch = 0;
  let timer = null;
  let inFlight = false;
  let again = false;
  let retryDelay = 1000;
  let connectedBefore = false;

  function label(dictType, value) {
    const labels = config.labels[dictType] || {};
    return labels[String(value)] || String(value);
  }

  // "{count} / 7 d" with {count} filled in.
  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  // A count on an alert tile, red only when there is something to see to.
  function alertFigure(id, count) {
    text(id, count);
    document.getElementById(id).toggleAttribute("data-nonzero", count > 0);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 60) return format(words.seconds, { seconds: Math.round(seconds) });
    if (seconds < 600) {
      return format(words.minutesSeconds, { minutes: Math.floor(seconds / 60), seconds: Math.round(seconds % 60) });
    }
    if (seconds < 3600) return format(words.minutes, { minutes: Math.round(seconds / 60) });
    if (seconds < 86400) return format(words.hours, { hours: (seconds / 3600).toFixed(1) });
    return format(words.days, { days: (seconds / 86400).toFixed(1) });
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + " %";
  }

  function shortDay(iso) {
    return iso.slice(5); // MM-DD
  }

  function makeCharts() {
    const common = { responsive: true, maintainAspectRatio: false, animation: false };
    const stacked = { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } };
    return {
      level: new Chart(document.getElementById("chart-level"), {
        type: "bar", data: { labels: [], datasets: [] },
        options: { ...common, scales: stacked, plugins: { legend: { labels: { boxWidth: 10 } } } },
      }),
      type: new Chart(document.getElementById("chart-type"), {
        type: "bar", data: { labels: [], datasets: [] },
        options: { ...common, scales: stacked, plugins: { legend: { labels: { boxWidth: 10 } } } },
      }),
      devices: new Chart(document.getElementById("chart-devices"), {
        type: "bar", data: { labels: [], datasets: [] },
        options: {
          ...common, indexAxis: "y", plugins: { legend: { display: false } },
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      }),
    };
  }

  function drawCharts(data) {
    charts = charts || makeCharts();
    const days = data.days.map(shortDay);
    charts.level.data = {
      labels: days,
      datasets: Object.entries(data.trend_by_level).map(([level, counts]) => ({
        label: label("aiot_alarm_level", level), data: counts, backgroundColor: LEVEL_COLOURS[level],
      })),
    };
    charts.type.data = {
      labels: days,
      datasets: data.trend_by_type.map((row, index) => ({
        label: label("aiot_alarm_type", row.alarm_type), data: row.counts, backgroundColor: PALETTE[index % PALETTE.length],
      })),
    };
    charts.devices.data = {
      labels: data.top_devices.map((device) => device.device_name || device.device_id),
      datasets: [{ label: words.alarms, data: data.top_devices.map((device) => device.count), backgroundColor: "#1565c0" }],
    };
    Object.values(charts).forEach((chart) => chart.update("none"));
  }

  function row(cells) {
    const tr = document.createElement("tr");
    cells.forEach((value) => {
      const td = document.createElement("td");
      td.textContent = value;
      tr.appendChild(td);
    });
    return tr;
  }

  function drawFigures(data) {
    const overall = data.metrics.overall;
    text("fig-today", data.today);
    text("fig-week", format(words.week, { count: data.week_total }));
    alertFigure("fig-unhandled", data.unhandled);
    text("fig-backlog-oldest", duration(overall.backlog.oldest_age_seconds));
    text("fig-backlog-median", format(words.backlog, {
      median: duration(overall.backlog.median_age_seconds), count: overall.backlog.count,
    }));
    text("fig-mtta", duration(overall.mtta_seconds));
    text("fig-mtta-p", format(words.percentiles, {
      p50: duration(overall.mtta_p50_seconds), p90: duration(overall.mtta_p90_seconds),
    }));
    text("fig-mttr", duration(overall.mttr_seconds));
    text("fig-mttr-p", format(words.percentiles, {
      p50: duration(overall.mttr_p50_seconds), p90: duration(overall.mttr_p90_seconds),
    }));
    text("fig-false", percent(overall.false_alarm_rate));
    text("fig-false-n", overall.false_alarms + " / " + overall.handled);
    alertFigure("fig-offline", data.offline_devices.count);
    document.querySelector("#shift-table tbody").replaceChildren(...data.metrics.groups.map((group) => row([
      group.key || words.noShift, duration(group.mtta_seconds), duration(group.mttr_seconds),
      percent(group.false_alarm_rate), group.backlog.count, duration(group.backlog.median_age_seconds),
    ])));
    document.querySelector("#offline-table tbody").replaceChildren(...data.offline_devices.devices.map((device) => row([
      device.name || device.device_id, device.location || "",
      device.last_seen ? timeFormat.format(new Date(device.last_seen)) : words.never,
    ])));
    text("dash-updated", timeFormat.format(new Date(data.generated_at)));
  }

  async function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    lastFetch = Date.now();
    try {
      const response = await fetch(config.dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        drawFigures(data);
        drawCharts(data);
        document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      }
    } finally {
      inFlight = false;
      if (again) { again = false; requestRefresh(); }
    }
  }

  // At most one fetch per refreshMs: the first event after a quiet spell fetches at once, a storm's
  // later events join the one fetch scheduled for the end of the interval.
  function requestRefresh() {
    if (timer !== null) return;
    const wait = Math.max(0, lastFetch + config.refreshMs - Date.now());
    timer = setTimeout(() => { timer = null; refresh(); }, wait);
  }

  function setStatus(state, label) {
    statusElement.dataset.state = state;
    statusElement.textContent = label;
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + config.socketPath);
    socket.onopen = () => {
      retryDelay = 1000;
      setStatus("live", words.stateLive);
      if (connectedBefore) requestRefresh(); // what changed while the socket was down
      connectedBefore = true;
    };
    socket.onmessage = (message) => {
      if (message.data === "pong") return;
      const frame = JSON.parse(message.data);
      if (REFRESH_ON.has(frame.type)) requestRefresh();
    };
    socket.onclose = () => {
      setStatus("reconnecting", words.stateReconnecting);
      setTimeout(() => { connect(); }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  refresh();
  connect();
})();
