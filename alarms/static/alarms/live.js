// Live alarm page: renders alarms as they arrive over /ws/alerts, reconnects by itself and catches up
// on what it missed, by the events' sequence numbers: after a reconnect, or when a number is skipped
// and has not arrived a moment later. Plain script, no build step.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("live-config").textContent);
  // The page's words in its language (live.html renders them); the English text where there is none.
  const text = JSON.parse((document.getElementById("live-text") || {}).textContent || "{}");
  const t = (english) => text[english] || english;
  const rowsElement = document.getElementById("live-rows");
  const statusElement = document.getElementById("live-status");
  const soundBox = document.getElementById("live-sound");
  const rows = new Map(); // alarmId -> <tr>
  // Sequence numbers: the highest applied, every one applied lately, and how far catch-ups have looked.
  let lastSeq = config.seq;
  let settledUpTo = config.seq;
  const seen = new Set();
  let gapTimer = null;
  let socket = null;
  let recovering = false; // after a reconnect or a gap, until the catch-up is in
  let retryDelay = 1000;
  // Times as staff read them everywhere else: in the service's TIME_ZONE, written the page's language's way.
  const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    timeZone: config.timeZone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  soundBox.checked = localStorage.getItem("vsp.live.sound") === "1";
  soundBox.addEventListener("change", () => localStorage.setItem("vsp.live.sound", soundBox.checked ? "1" : "0"));

  // Django admin's quote() for primary keys in URLs.
  function adminQuote(value) {
    return value.replace(/[\n"#$%&+,/:;<=>?@[\\\]_]/g, (c) => "_" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
  }

  function label(dictType, value) {
    const labels = config.labels[dictType] || {};
    return labels[String(value)] || String(value);
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  // The LLM's second opinion on an alarm, from its alarm.analyzed event (later events do not carry it).
  const opinions = new Map();
  const VERDICTS = { REAL: t("Real alarm"), FALSE_ALARM: t("False alarm"), UNCERTAIN: t("Uncertain") };

  function verdictCell(analysis) {
    const td = document.createElement("td");
    td.className = "verdict";
    if (!analysis) {
      td.textContent = "—";
    } else if (analysis.status === "DONE") {
      td.dataset.verdict = analysis.verdict;
      const confidence = analysis.confidence == null ? "" : " " + analysis.confidence.toFixed(2);
      td.textContent = (VERDICTS[analysis.verdict] || analysis.verdict) + confidence;
      td.title = analysis.description || "";
    } else {
      td.dataset.verdict = analysis.status;
      td.textContent = analysis.status === "FAILED" ? t("Analysis failed") : t("Analysing…");
      td.title = analysis.error || "";
    }
    return td;
  }

  function render(alarm, fresh) {
    const tr = document.createElement("tr");
    tr.dataset.alarmId = alarm.alarmId;
    const level = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = "level level-" + alarm.alarmLevel;
    badge.textContent = label("aiot_alarm_level", alarm.alarmLevel);
    level.appendChild(badge);
    tr.appendChild(level);
    tr.appendChild(cell(label("aiot_alarm_type", alarm.alarmType)));
    tr.appendChild(cell(alarm.deviceName || alarm.deviceId));
    tr.appendChild(cell(timeFormat.format(new Date(alarm.eventTime))));
    tr.appendChild(cell(label("aiot_alarm_status", alarm.alarmStatus)));
    tr.appendChild(cell(label("aiot_alarm_handle_status", alarm.handleStatus)));
    tr.appendChild(verdictCell(alarm.analysis || opinions.get(alarm.alarmId)));
    const snapshot = document.createElement("td");
    snapshot.className = "snapshot";
    const picture = alarm.thumbnailUrl || alarm.snapshotUrl;
    if (picture) {
      // The thumbnail opens the full image in a new tab; the rest of the row opens the alarm in admin.
      const anchor = document.createElement("a");
      anchor.href = alarm.snapshotUrl || picture;
      anchor.target = "_blank";
      anchor.rel = "noopener";
      anchor.addEventListener("click", (event) => event.stopPropagation());
      const img = document.createElement("img");
      img.src = picture;
      img.alt = t("snapshot");
      img.loading = "lazy";
      anchor.appendChild(img);
      snapshot.appendChild(anchor);
    } else {
      snapshot.textContent = "—";
    }
    tr.appendChild(snapshot);
    tr.appendChild(cell(alarm.alarmId));
    tr.addEventListener("click", () => {
      window.location.href = config.changeUrl.replace("__ID__", adminQuote(alarm.alarmId));
    });
    if (fresh) tr.classList.add("fresh");
    return tr;
  }

  function show(alarm, fresh) {
    const row = render(alarm, fresh);
    const existing = rows.get(alarm.alarmId);
    if (existing) {
      existing.replaceWith(row);
    } else {
      rowsElement.insertBefore(row, rowsElement.firstChild);
      while (rowsElement.children.length > config.maxRows) {
        const last = rowsElement.lastChild;
        rows.delete(last.dataset.alarmId);
        last.remove();
      }
    }
    rows.set(alarm.alarmId, row);
  }

  function beep() {
    if (!soundBox.checked) return;
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.25);
    } catch (error) {
      // Sound is a nicety; a browser that refuses it still shows the alarm.
    }
  }

  function setStatus(state, text) {
    statusElement.dataset.state = state;
    statusElement.textContent = text;
  }

  // One event, live or from a catch-up; applying one twice changes nothing.
  function apply(type, data, fresh) {
    if (type === "alarm.created") {
      show(data, fresh);
      if (fresh && data.alarmLevel <= 2) beep();
    } else if (type.startsWith("alarm.") && rows.has(data.alarmId)) {
      if (type === "alarm.analyzed") opinions.set(data.alarmId, data.analysis);
      show(data, false);
    }
  }

  // Record an event's number; false if it was applied already.
  function note(seq) {
    if (seen.has(seq)) return false;
    seen.add(seq);
    if (seq > lastSeq + 1 && !gapTimer) {
      // A number was skipped: it may only be late (transactions commit out of order), so wait a moment.
      gapTimer = setTimeout(checkGap, config.gapWaitMs);
    }
    lastSeq = Math.max(lastSeq, seq);
    if (seen.size > 5000) seen.forEach((old) => { if (old < lastSeq - 2500) seen.delete(old); });
    return true;
  }

  function missing() {
    for (let seq = settledUpTo + 1; seq <= lastSeq; seq++) if (!seen.has(seq)) return seq;
    return null;
  }

  function checkGap() {
    gapTimer = null;
    const first = missing();
    if (first === null) { settledUpTo = lastSeq; return; }
    if (socket && socket.readyState === WebSocket.OPEN) {
      recovering = true;
      setStatus("catching-up", t("catching up…"));
      socket.send(JSON.stringify({ type: "catchup", after_seq: first - 1 }));
    }
  }

  function caughtUp(frame) {
    if (frame.data.truncated) { window.location.reload(); return; }
    (frame.data.events || []).forEach((event) => { if (note(event.seq)) apply(event.type, event.data, true); });
    (frame.data.alarms || []).forEach((alarm) => show(alarm, true));
    // Everything stored up to frame.seq is now here; a number still missing below it was never stored.
    settledUpTo = Math.max(settledUpTo, frame.seq || 0);
    setStatus("live", recovering ? t("caught up") : t("live"));
    recovering = false;
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + config.socketPath + "?after_seq=" + lastSeq);
    socket.onopen = () => {
      retryDelay = 1000;
      if (recovering) setStatus("catching-up", t("catching up…"));
    };
    socket.onmessage = (message) => {
      if (message.data === "pong") return;
      const frame = JSON.parse(message.data);
      if (frame.type === "alarm.catchup") {
        caughtUp(frame);
      } else if (frame.seq === undefined || note(frame.seq)) {
        apply(frame.type, frame.data, true);
      }
    };
    socket.onclose = () => {
      recovering = true;
      setStatus("reconnecting", t("reconnecting…"));
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  JSON.parse(document.getElementById("live-initial").textContent).reverse().forEach((alarm) => show(alarm, false));
  connect();
})();
