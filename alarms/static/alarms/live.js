// Live alarm page: renders alarms as they arrive over /ws/alerts, reconnects by itself and catches up
// on what it missed, by the events' sequence numbers: after a reconnect, or when a number is skipped
// and has not arrived a moment later. Staff act on an alarm from its row (through the native API, with
// the admin session), open its snapshot with the edge's boxes drawn, filter the rows (the filter is the
// page's query, and the socket's), and see a storm of one camera as one row. Plain script, no build step;
// the visible text comes from the template (#live-text, #live-actions).
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("live-config").textContent);
  const text = document.getElementById("live-text").dataset;
  const rowsElement = document.getElementById("live-rows");
  const statusElement = document.getElementById("live-status");
  const soundBox = document.getElementById("live-sound");
  const actionsTemplate = document.getElementById("live-actions");
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

  // "{count} alarms" with {count} filled in.
  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  // Django admin's quote() for primary keys in URLs.
  function adminQuote(value) {
    return value.replace(/[\n"#$%&+,/:;<=>?@[\\\]_]/g, (c) => "_" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
  }

  function adminUrl(alarmId) {
    return config.changeUrl.replace("__ID__", adminQuote(alarmId));
  }

  function label(dictType, value) {
    const labels = config.labels[dictType] || {};
    return labels[String(value)] || String(value);
  }

  function cell(content) {
    const td = document.createElement("td");
    td.textContent = content;
    return td;
  }

  function link(href, content) {
    const anchor = document.createElement("a");
    anchor.href = href;
    anchor.textContent = content;
    anchor.addEventListener("click", (event) => event.stopPropagation());
    return anchor;
  }

  // ---- Alarms, and the storms they make ------------------------------------------------------------

  const alarms = new Map(); // alarmId -> the alarm as its latest event carried it
  const arrivals = []; // alarm ids, oldest first: the first to go past maxRows
  const groups = new Map(); // group id -> {id, key, members (ids, oldest first), rank, expanded, elements, ...}
  const groupOf = new Map(); // alarmId -> its group
  const openGroup = new Map(); // storm key -> the group an alarm of that key may still join
  const opinions = new Map(); // alarmId -> the LLM's opinion, from alarm.analyzed (later events do not carry it)
  const outcomes = new Map(); // alarmId or group id -> {state, text}: what the row says about its handling
  let nextRank = 0;
  let nextGroup = 0;

  // A server-side incident decides the storm when the alarm names one; until then (device, scene, type).
  function stormKey(alarm) {
    if (alarm.incidentId != null) return "incident:" + alarm.incidentId;
    return JSON.stringify([alarm.deviceId, alarm.sceneId || "", alarm.alarmType]);
  }

  function joinGroup(alarm) {
    const key = stormKey(alarm);
    const time = alarm.eventTime;
    let group = openGroup.get(key);
    const near = group && (alarm.incidentId != null ||
      (time >= group.firstTime - config.stormWindowMs && time <= group.lastTime + config.stormWindowMs));
    if (!near) {
      group = { id: "g" + nextGroup++, key, members: [], rank: 0, expanded: false, elements: [],
        firstTime: time, lastTime: time };
      groups.set(group.id, group);
      openGroup.set(key, group);
    }
    group.members.push(alarm.alarmId);
    group.firstTime = Math.min(group.firstTime, time);
    group.lastTime = Math.max(group.lastTime, time);
    group.rank = nextRank++;
    groupOf.set(alarm.alarmId, group);
    return group;
  }

  // The group's members as alarms, newest event first.
  function membersOf(group) {
    return group.members.map((id) => alarms.get(id))
      .sort((a, b) => b.eventTime - a.eventTime || (a.alarmId < b.alarmId ? 1 : -1));
  }

  // Drop the oldest alarms past maxRows, and their rows.
  function trim() {
    while (alarms.size > config.maxRows && arrivals.length) {
      const id = arrivals.shift();
      const group = groupOf.get(id);
      alarms.delete(id);
      groupOf.delete(id);
      outcomes.delete(id);
      if (!group) continue;
      group.members = group.members.filter((member) => member !== id);
      if (group.members.length) {
        draw(group, false, false);
      } else {
        group.elements.forEach((element) => element.remove());
        groups.delete(group.id);
        outcomes.delete(group.id);
        if (openGroup.get(group.key) === group) openGroup.delete(group.key);
      }
    }
  }

  // ---- Rows ------------------------------------------------------------------------------------------

  const VERDICTS = { REAL: text.verdictReal, FALSE_ALARM: text.verdictFalseAlarm, UNCERTAIN: text.verdictUncertain };

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
      td.textContent = analysis.status === "FAILED" ? text.analysisFailed : text.analysisPending;
      td.title = analysis.error || "";
    }
    return td;
  }

  function levelCell(level) {
    const td = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = "level level-" + level;
    badge.textContent = label("aiot_alarm_level", level);
    td.appendChild(badge);
    return td;
  }

  function deviceCell(alarm) {
    const td = document.createElement("td");
    td.className = "device";
    td.appendChild(link(config.deviceUrl.replace("__ID__", adminQuote(alarm.deviceId)), alarm.deviceName || alarm.deviceId));
    return td;
  }

  // The handling status, and to whom the alarm is assigned.
  function handlingCell(alarm) {
    const td = cell(label("aiot_alarm_handle_status", alarm.handleStatus));
    td.className = "handling";
    td.dataset.handleStatus = alarm.handleStatus;
    if (alarm.handler) td.title = alarm.handler;
    if (alarm.assignee) {
      const assignee = document.createElement("span");
      assignee.className = "assignee";
      assignee.dataset.assignee = alarm.assignee;
      assignee.textContent = format(text.assignedTo, { name: alarm.assignee });
      td.appendChild(assignee);
    }
    return td;
  }

  function snapshotCell(alarm) {
    const td = document.createElement("td");
    td.className = "snapshot";
    const picture = alarm.thumbnailUrl || alarm.snapshotUrl;
    if (!picture) {
      td.textContent = "—";
      return td;
    }
    // The thumbnail opens the lightbox (the full image, with the edge's boxes); the rest of the row opens admin.
    const img = document.createElement("img");
    img.src = picture;
    img.alt = text.snapshot;
    img.loading = "lazy";
    img.tabIndex = 0; // reachable by keyboard: Enter opens it as a click does
    const open = (event) => {
      event.stopPropagation();
      openLightbox(alarms.get(alarm.alarmId) || alarm);
    };
    img.addEventListener("click", open);
    img.addEventListener("keydown", (event) => { if (event.key === "Enter") open(event); });
    td.appendChild(img);
    return td;
  }

  // The action buttons and the outcome line; ``ids`` are the alarms the buttons act on, ``key`` the outcome's.
  function actionsCell(ids, key) {
    const td = document.createElement("td");
    td.className = "actions-cell";
    td.appendChild(actionsTemplate.content.cloneNode(true));
    td.querySelectorAll("button.act").forEach((button) => {
      button.addEventListener("click", (event) => {
        event.stopPropagation();
        act(button, ids, key);
      });
    });
    const assignSelect = td.querySelector("select.assign");
    if (assignSelect) {
      assignSelect.addEventListener("click", (event) => event.stopPropagation());
      assignSelect.addEventListener("change", () => {
        const option = assignSelect.selectedOptions[0];
        assign(option.hasAttribute("data-nobody") ? null : option.value, ids, key);
      });
    }
    const outcome = outcomes.get(key);
    const line = td.querySelector(".outcome");
    if (outcome) {
      line.dataset.state = outcome.state;
      line.textContent = outcome.text;
      if (outcome.status !== undefined) line.dataset.status = String(outcome.status);
      if (outcome.state === "working") td.querySelectorAll("button.act, select.assign").forEach((control) => { control.disabled = true; });
    }
    return td;
  }

  function alarmRow(alarm, fresh) {
    const tr = document.createElement("tr");
    tr.dataset.alarmId = alarm.alarmId;
    tr.dataset.level = alarm.alarmLevel;
    tr.appendChild(levelCell(alarm.alarmLevel));
    tr.appendChild(cell(label("aiot_alarm_type", alarm.alarmType)));
    tr.appendChild(deviceCell(alarm));
    tr.appendChild(cell(timeFormat.format(new Date(alarm.eventTime))));
    tr.appendChild(cell(label("aiot_alarm_status", alarm.alarmStatus)));
    tr.appendChild(handlingCell(alarm));
    tr.appendChild(verdictCell(alarm.analysis || opinions.get(alarm.alarmId)));
    tr.appendChild(snapshotCell(alarm));
    const id = document.createElement("td");
    id.appendChild(link(adminUrl(alarm.alarmId), alarm.alarmId));
    tr.appendChild(id);
    tr.appendChild(actionsCell([alarm.alarmId], alarm.alarmId));
    tr.addEventListener("click", () => { window.location.href = adminUrl(alarm.alarmId); });
    if (fresh) tr.classList.add("fresh");
    return tr;
  }

  // A storm's one row: the latest alarm's time and state, the highest level, and the counter.
  function stormRow(group, members, fresh) {
    const latest = members[0];
    const highest = Math.min(...members.map((alarm) => alarm.alarmLevel));
    const tr = document.createElement("tr");
    tr.className = "storm";
    tr.dataset.storm = group.id;
    tr.dataset.count = members.length;
    tr.dataset.latestId = latest.alarmId;
    tr.dataset.level = highest;
    tr.appendChild(levelCell(highest));
    tr.appendChild(cell(label("aiot_alarm_type", latest.alarmType)));
    tr.appendChild(deviceCell(latest));
    tr.appendChild(cell(timeFormat.format(new Date(latest.eventTime))));
    tr.appendChild(cell(label("aiot_alarm_status", latest.alarmStatus)));
    tr.appendChild(handlingCell(latest));
    tr.appendChild(verdictCell(latest.analysis || opinions.get(latest.alarmId)));
    tr.appendChild(snapshotCell(latest));
    const id = document.createElement("td");
    id.appendChild(link(adminUrl(latest.alarmId), latest.alarmId));
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "storm-toggle";
    toggle.textContent = "×" + members.length;
    toggle.title = format(text.stormTitle, { count: members.length });
    toggle.setAttribute("aria-expanded", String(group.expanded));
    id.appendChild(toggle);
    tr.appendChild(id);
    // The storm's buttons act on every alarm in it, one request each, and say how many took.
    tr.appendChild(actionsCell(members.map((alarm) => alarm.alarmId), group.id));
    tr.addEventListener("click", () => {
      group.expanded = !group.expanded;
      draw(group, false, false);
    });
    if (fresh) tr.classList.add("fresh");
    return tr;
  }

  // (Re)draw a group's rows: at the top when it has news, else where it is.
  function draw(group, fresh, toTop) {
    const members = membersOf(group);
    let elements;
    if (members.length === 1) {
      elements = [alarmRow(members[0], fresh)];
      elements[0].hidden = !matches(members[0]);
    } else {
      const head = stormRow(group, members, fresh);
      head.hidden = !members.some(matches);
      elements = [head];
      members.forEach((alarm) => {
        const row = alarmRow(alarm, false);
        row.classList.add("storm-member");
        row.dataset.memberOf = group.id;
        row.hidden = !group.expanded || !matches(alarm);
        elements.push(row);
      });
    }
    const old = group.elements;
    if (toTop || !old.length || !old[0].isConnected) {
      rowsElement.prepend(...elements);
    } else {
      old[0].before(...elements);
    }
    old.forEach((element) => element.remove());
    group.elements = elements;
  }

  function show(alarm, fresh) {
    const known = alarms.has(alarm.alarmId);
    alarms.set(alarm.alarmId, alarm);
    if (known) {
      draw(groupOf.get(alarm.alarmId), false, false);
      return;
    }
    arrivals.push(alarm.alarmId);
    draw(joinGroup(alarm), fresh, true);
    trim();
    countShown();
  }

  // ---- Handling from the row -------------------------------------------------------------------------

  // Alarms with a request of ours in flight or just answered: their next alarm.updated is our own.
  const own = new Map(); // alarmId -> {answered, framed}

  function setOutcome(key, state, message, status) {
    outcomes.set(key, { state, text: message, status });
    const group = groups.get(key) || groupOf.get(key);
    if (group) draw(group, false, false);
  }

  // POST JSON to the native API with the admin session: {ok, status, answer} or {ok: false, status, message}.
  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": config.csrfToken },
        body: JSON.stringify(body),
      });
    } catch (error) {
      return { ok: false, status: 0, message: text.errorNetwork };
    }
    let answer = {};
    try { answer = await response.json(); } catch (error) { /* a proxy's HTML error page */ }
    if (response.ok) return { ok: true, status: response.status, answer };
    const detail = typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer);
    const message = { 403: text.errorForbidden, 404: text.errorNotFound, 409: text.errorConflict }[response.status] || text.errorOther;
    return { ok: false, status: response.status, message: format(message, { detail, status: response.status }) };
  }

  async function handle(alarmId, body) {
    const result = await post(config.handleUrl.replace("__ID__", encodeURIComponent(alarmId)), body);
    return result.ok ? { ok: true, status: result.status, alarm: result.answer } : result;
  }

  // What the answer says of the alarm, on the row now; the alarm.updated frame that follows redraws it all.
  function applyAnswer(answer) {
    const alarm = alarms.get(answer.alarm_id);
    if (!alarm) return;
    alarms.set(alarm.alarmId, { ...alarm, handleStatus: answer.handle_status, alarmStatus: answer.alarm_status,
      handler: answer.handler });
  }

  async function act(button, ids, key) {
    const action = button.dataset.action;
    const body = { handle_status: button.dataset.handleStatus };
    if (button.dataset.alarmStatus) body.alarm_status = button.dataset.alarmStatus;
    // A storm's alarms already in the requested state are left as they are.
    const targets = ids.length === 1 ? ids : ids.filter((id) => alarms.has(id) && alarms.get(id).handleStatus !== body.handle_status);
    setOutcome(key, "working", text.working);
    const results = [];
    for (const id of targets) {
      own.set(id, { answered: false, framed: false });
      const result = await handle(id, body);
      const mark = own.get(id);
      if (result.ok) {
        applyAnswer(result.alarm);
        if (mark && mark.framed) own.delete(id); else if (mark) mark.answered = true;
      } else {
        own.delete(id);
      }
      results.push(result);
    }
    const failed = results.find((result) => !result.ok);
    const status = failed ? failed.status : 200;
    if (ids.length === 1) {
      const done = text["done" + action[0].toUpperCase() + action.slice(1)];
      setOutcome(key, failed ? "error" : "ok", failed ? failed.message : done, status);
    } else {
      const summary = format(text.doneMany, { done: results.filter((result) => result.ok).length, total: targets.length });
      setOutcome(key, failed ? "error" : "ok", failed ? summary + " — " + failed.message : summary, status);
    }
  }

  // Assign the alarms of a row (a storm's: all of them) in one request; ``assignee`` null is nobody.
  async function assign(assignee, ids, key) {
    setOutcome(key, "working", text.working);
    ids.forEach((id) => own.set(id, { answered: false, framed: false }));
    const result = await post(config.assignUrl, { alarm_ids: ids, assignee });
    if (!result.ok) {
      ids.forEach((id) => own.delete(id));
      setOutcome(key, "error", result.message, result.status);
      return;
    }
    // Each id's outcome: the assigned ones change on the row now; their alarm.updated frames are our own.
    const results = result.answer.results || {};
    const updated = ids.filter((id) => results[id] === "updated");
    ids.forEach((id) => {
      const mark = own.get(id);
      if (results[id] !== "updated" || (mark && mark.framed)) own.delete(id); else if (mark) mark.answered = true;
      if (results[id] === "updated" && alarms.has(id)) alarms.set(id, { ...alarms.get(id), assignee });
    });
    const refusal = ids.map((id) => results[id]).find((outcome) => outcome !== "updated");
    const problem = { forbidden: text.errorForbidden, not_found: text.errorNotFound }[refusal] || "";
    let message;
    if (ids.length === 1) {
      message = refusal ? problem : assignee === null ? text.doneUnassign : format(text.doneAssign, { name: assignee });
    } else {
      message = format(text.doneMany, { done: updated.length, total: ids.length }) + (refusal ? " — " + problem : "");
    }
    setOutcome(key, refusal ? "error" : "ok", message, result.status);
  }

  // An alarm.updated frame: ours (a request of this page) keeps its outcome; anyone else's is said so.
  function updatedElsewhere(alarm) {
    const mark = own.get(alarm.alarmId);
    if (mark) {
      if (mark.answered) own.delete(alarm.alarmId); else mark.framed = true;
      return;
    }
    const status = label("aiot_alarm_handle_status", alarm.handleStatus);
    outcomes.set(alarm.alarmId, { state: "remote", text: format(text.updatedBy, { handler: alarm.handler || "?" }) + ": " + status });
  }

  // ---- Filters: the page's query, applied to the rows, and to the socket ----------------------------

  const filterForm = document.getElementById("live-filters");
  const typeSelect = document.getElementById("filter-type");
  const deviceInput = document.getElementById("filter-device");
  const levelBoxes = [...filterForm.querySelectorAll("input[name=level]")];
  // What the socket (and the alarms the page opened with) were narrowed to; a wider filter needs a reload.
  const streamFilter = config.filter;
  let filter = copyFilter(config.filter);

  function copyFilter(value) {
    return { level: value.level && value.level.map(Number), type: value.type && [...value.type], device: value.device && [...value.device] };
  }

  function matches(alarm) {
    return (!filter.level || filter.level.includes(alarm.alarmLevel)) &&
      (!filter.type || filter.type.includes(alarm.alarmType)) &&
      (!filter.device || filter.device.includes(alarm.deviceId));
  }

  function within(narrow, wide) {
    return ["level", "type", "device"].every((name) => !wide[name] || (narrow[name] && narrow[name].every((value) => wide[name].includes(value))));
  }

  function query(value) {
    const params = new URLSearchParams();
    ["level", "type", "device"].forEach((name) => { if (value[name]) params.set(name, value[name].join(",")); });
    return params.toString();
  }

  function fillForm() {
    levelBoxes.forEach((box) => { box.checked = !!filter.level && filter.level.includes(Number(box.value)); });
    const types = filter.type ? filter.type.join(",") : "";
    if (types && ![...typeSelect.options].some((option) => option.value === types)) {
      // A link with several types: keep them, as one choice.
      typeSelect.add(new Option(filter.type.map((type) => label("aiot_alarm_type", type)).join(", "), types));
    }
    typeSelect.value = types;
    deviceInput.value = filter.device ? filter.device.join(",") : "";
  }

  function readForm() {
    const levels = levelBoxes.filter((box) => box.checked).map((box) => Number(box.value));
    const list = (raw) => { const items = raw.split(",").map((item) => item.trim()).filter(Boolean); return items.length ? [...new Set(items)].sort() : null; };
    return { level: levels.length ? levels : null, type: list(typeSelect.value), device: list(deviceInput.value) };
  }

  function applyFilter() {
    const next = readForm();
    const search = query(next);
    const url = window.location.pathname + (search ? "?" + search : "");
    if (!within(next, streamFilter)) {
      // Wider than what the socket carries: the rows it kept out are not here; the server fills them in.
      window.location.assign(url);
      return;
    }
    filter = next;
    window.history.replaceState(null, "", url);
    groups.forEach((group) => draw(group, false, false));
    countShown();
  }

  function countShown() {
    const counter = document.getElementById("filter-count");
    const active = filter.level || filter.type || filter.device;
    const total = alarms.size;
    const shown = [...alarms.values()].filter(matches).length;
    counter.textContent = active ? format(text.shown, { shown, total }) : "";
  }

  filterForm.addEventListener("submit", (event) => { event.preventDefault(); applyFilter(); });
  filterForm.addEventListener("change", applyFilter);
  document.getElementById("filter-clear").addEventListener("click", () => {
    levelBoxes.forEach((box) => { box.checked = false; });
    typeSelect.value = "";
    deviceInput.value = "";
    applyFilter();
  });
  fillForm();

  // ---- Sound for level 1–2 -------------------------------------------------------------------------

  // Browsers start audio only from a user gesture: the toggle's click creates the context; after a reload,
  // the first click or key on the page wakes it. ``window.vspLive.sound`` lets tests see it was used.
  const sound = { context: null, played: 0 };
  let lastTone = 0;

  function audio() {
    if (!sound.context) {
      const AudioContext = window.AudioContext || window.webkitAudioContext;
      if (!AudioContext) return null;
      sound.context = new AudioContext();
    }
    if (sound.context.state === "suspended") sound.context.resume().catch(() => {});
    return sound.context;
  }

  function tone() {
    try {
      const context = audio();
      if (!context) return;
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, context.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.3);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start();
      oscillator.stop(context.currentTime + 0.3);
      sound.played += 1;
    } catch (error) {
      // Sound is a nicety; a browser that refuses it still shows the alarm.
    }
  }

  function beep() {
    // One tone per moment, however many alarms a storm brings in it.
    if (!soundBox.checked || Date.now() - lastTone < 1000) return;
    lastTone = Date.now();
    tone();
  }

  soundBox.checked = localStorage.getItem("vsp.live.sound") === "1";
  soundBox.addEventListener("change", () => {
    localStorage.setItem("vsp.live.sound", soundBox.checked ? "1" : "0");
    if (soundBox.checked) audio();
  });
  const wake = () => { if (soundBox.checked) audio(); };
  document.addEventListener("click", wake, { once: true });
  document.addEventListener("keydown", wake, { once: true });

  // ---- The snapshot lightbox, with the edge's boxes ---------------------------------------------------

  const lightbox = document.getElementById("live-lightbox");
  const lightboxImage = document.getElementById("lightbox-image");
  const lightboxBoxes = document.getElementById("lightbox-boxes");
  const lightboxNote = document.getElementById("lightbox-note");
  let shownBoxes = null; // the boxes of the alarm in the lightbox, once its ext data is in
  let lightboxAlarm = null;

  // [x1, y1, x2, y2] corners (the contract's bbox), or [x, y, width, height] when the second pair cannot be
  // corners; in the snapshot's pixels, or as fractions of it when every number is at most 1.
  function box(value) {
    let numbers = value;
    if (value && !Array.isArray(value) && typeof value === "object") {
      if ("x1" in value) numbers = [value.x1, value.y1, value.x2, value.y2];
      else if ("width" in value || "w" in value) {
        const x = value.x ?? value.left, y = value.y ?? value.top, w = value.width ?? value.w, h = value.height ?? value.h;
        numbers = [x, y, x + w, y + h];
      }
    }
    if (!Array.isArray(numbers) || numbers.length !== 4 || !numbers.every((n) => typeof n === "number" && isFinite(n))) return null;
    let [x1, y1, x2, y2] = numbers;
    if (x2 <= x1 || y2 <= y1) { x2 = x1 + x2; y2 = y1 + y2; }
    return { x1, y1, x2, y2, relative: numbers.every((n) => n >= 0 && n <= 1) };
  }

  function boxesOf(ext, alarm) {
    const found = [];
    if (!ext || typeof ext !== "object") return found;
    const fallback = label("aiot_alarm_type", alarm.alarmType);
    const add = (value, name, confidence) => {
      const parsed = box(value);
      if (parsed) found.push({ ...parsed, label: name || fallback, confidence: typeof confidence === "number" ? confidence : null });
    };
    if (Array.isArray(ext.bbox) && ext.bbox.length && typeof ext.bbox[0] === "object") ext.bbox.forEach((item) => add(item));
    else if (ext.bbox) add(ext.bbox, null, alarm.confidenceScore);
    ["boxes", "objects", "detections", "targets"].forEach((name) => {
      if (!Array.isArray(ext[name])) return;
      ext[name].forEach((item) => {
        if (Array.isArray(item)) add(item);
        else if (item && typeof item === "object") {
          add(item.bbox || item.box || item.rect || item, item.label || item.name || item.class, item.confidence ?? item.score);
        }
      });
    });
    return found.slice(0, 100);
  }

  // Boxes as divs over the image, scaled from the snapshot's pixels to the size the image is drawn at.
  function drawBoxes() {
    lightboxBoxes.replaceChildren();
    if (!lightboxImage.naturalWidth) return;
    // As large as the window allows, small snapshots too; the boxes are placed on the size it is drawn at.
    const fit = Math.min(window.innerWidth * 0.92 / lightboxImage.naturalWidth, window.innerHeight * 0.84 / lightboxImage.naturalHeight);
    lightboxImage.style.width = Math.floor(lightboxImage.naturalWidth * fit) + "px";
    lightboxImage.style.height = Math.floor(lightboxImage.naturalHeight * fit) + "px";
    if (!shownBoxes) return;
    const scaleX = lightboxImage.clientWidth / lightboxImage.naturalWidth;
    const scaleY = lightboxImage.clientHeight / lightboxImage.naturalHeight;
    for (const item of shownBoxes) {
      const sx = item.relative ? lightboxImage.clientWidth : scaleX;
      const sy = item.relative ? lightboxImage.clientHeight : scaleY;
      const div = document.createElement("div");
      div.className = "box";
      div.style.left = item.x1 * sx + "px";
      div.style.top = item.y1 * sy + "px";
      div.style.width = (item.x2 - item.x1) * sx + "px";
      div.style.height = (item.y2 - item.y1) * sy + "px";
      const caption = document.createElement("span");
      caption.textContent = item.label + (item.confidence != null ? " " + item.confidence.toFixed(2) : "");
      div.appendChild(caption);
      lightboxBoxes.appendChild(div);
    }
    lightbox.dataset.drawn = String(shownBoxes.length);
  }

  async function openLightbox(alarm) {
    lightboxAlarm = alarm.alarmId;
    shownBoxes = null;
    delete lightbox.dataset.drawn;
    lightboxBoxes.replaceChildren();
    lightboxNote.textContent = "";
    lightboxImage.src = alarm.snapshotUrl || alarm.thumbnailUrl;
    document.getElementById("lightbox-caption").textContent = [
      label("aiot_alarm_type", alarm.alarmType), alarm.deviceName || alarm.deviceId,
      timeFormat.format(new Date(alarm.eventTime)), alarm.alarmId].join(" · ");
    lightbox.hidden = false;
    // The frames do not carry ext data; the alarm's detail does.
    let boxes = [];
    try {
      const response = await fetch(config.detailUrl.replace("__ID__", encodeURIComponent(alarm.alarmId)),
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      boxes = boxesOf((await response.json()).ext_data, alarm);
      if (!boxes.length) lightboxNote.textContent = text.noBoxes;
    } catch (error) {
      lightboxNote.textContent = text.boxesFailed;
    }
    if (lightboxAlarm !== alarm.alarmId) return; // closed or another opened meanwhile
    shownBoxes = boxes;
    drawBoxes();
  }

  function closeLightbox() {
    lightbox.hidden = true;
    lightboxAlarm = null;
    shownBoxes = null;
    lightboxImage.removeAttribute("src");
    lightboxImage.removeAttribute("style");
    lightboxBoxes.replaceChildren();
  }

  lightboxImage.addEventListener("load", drawBoxes);
  window.addEventListener("resize", drawBoxes);
  lightbox.addEventListener("click", closeLightbox);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !lightbox.hidden) closeLightbox(); });

  // ---- The stream ------------------------------------------------------------------------------------

  function setStatus(state, message) {
    statusElement.dataset.state = state;
    statusElement.textContent = message;
  }

  // One event, live or from a catch-up; applying one twice changes nothing.
  function apply(type, data, fresh) {
    if (type === "alarm.created") {
      show(data, fresh);
      if (fresh && data.alarmLevel <= 2 && matches(data)) beep();
    } else if (type.startsWith("alarm.") && alarms.has(data.alarmId)) {
      if (type === "alarm.analyzed") opinions.set(data.alarmId, data.analysis);
      if (type === "alarm.updated" && fresh) updatedElsewhere(data);
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
      setStatus("catching-up", text.stateCatchingUp);
      socket.send(JSON.stringify({ type: "catchup", after_seq: first - 1 }));
    }
  }

  function caughtUp(frame) {
    if (frame.data.truncated) { window.location.reload(); return; }
    (frame.data.events || []).forEach((event) => { if (note(event.seq)) apply(event.type, event.data, true); });
    (frame.data.alarms || []).forEach((alarm) => show(alarm, true));
    // Everything stored up to frame.seq is now here; a number still missing below it was never stored.
    settledUpTo = Math.max(settledUpTo, frame.seq || 0);
    setStatus("live", recovering ? text.stateCaughtUp : text.stateLive);
    recovering = false;
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const narrowed = query(streamFilter);
    socket = new WebSocket(scheme + window.location.host + config.socketPath + "?after_seq=" + lastSeq + (narrowed ? "&" + narrowed : ""));
    socket.onopen = () => {
      retryDelay = 1000;
      if (recovering) setStatus("catching-up", text.stateCatchingUp);
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
      setStatus("reconnecting", text.stateReconnecting);
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  JSON.parse(document.getElementById("live-initial").textContent).reverse().forEach((alarm) => show(alarm, false));
  window.vspLive = { sound, groups: () => [...groups.values()].map((group) => ({ id: group.id, count: group.members.length })) };
  connect();
})();
