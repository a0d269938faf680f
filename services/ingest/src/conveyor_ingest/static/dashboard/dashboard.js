/* Conveyor dashboard: vanilla JS over the ingest HTTP API (docs/dashboard.md).
 *
 * Safety rules kept throughout: API data reaches the page only as text nodes or
 * attribute values (never innerHTML); the token lives in sessionStorage and travels
 * only in the Authorization header (never in a URL); every request goes to this origin.
 */
(() => {
  "use strict";

  const TOKEN_KEY = "conveyor.dashboard.token";
  const STREAM_PATH = "/api/v1/stream/overview";
  const FINAL = new Set(["succeeded", "dead", "cancelled"]);
  const STATUSES = ["pending", "scheduled", "running", "retrying", "succeeded", "dead", "cancelled"];
  const view = document.getElementById("view");
  const live = document.getElementById("live");
  const login = document.getElementById("login");
  const forget = document.getElementById("forget");

  // Per-page clean-up (timers, stream listeners), run on every navigation.
  let cleanups = [];
  // The latest overview pushed by the stream, and who wants it.
  let overview = null;
  const listeners = new Set();
  let streamAbort = null;

  /* ---------- DOM helpers: text only ---------- */

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
  }

  function show(...children) {
    view.replaceChildren(...children.flat().filter(Boolean));
  }

  function table(headers, rows, empty) {
    if (!rows.length) return h("p", { class: "notice" }, empty || "Nothing to show.");
    const head = h("tr", null, headers.map(([label, cls]) => h("th", { scope: "col", class: cls }, label)));
    return h("div", { class: "table-wrap" }, h("table", null, h("thead", null, head), h("tbody", null, rows)));
  }

  function cell(value, cls) {
    return h("td", { class: cls }, value === null || value === undefined ? "—" : value);
  }

  function badge(text, cls) {
    return h("span", { class: `badge ${cls || text}` }, text);
  }

  function fields(pairs) {
    return h("dl", { class: "fields" }, pairs.map(([k, v]) => [h("dt", null, k), h("dd", null, v ?? "—")]));
  }

  function json(value) {
    return h("pre", { class: "mono" }, value === undefined ? "—" : JSON.stringify(value, null, 2));
  }

  function notice(text, bad) {
    return h("p", { class: bad ? "notice bad" : "notice", role: bad ? "alert" : "status" }, text);
  }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    return h("time", { datetime: iso, title: iso }, date.toLocaleString());
  }

  function ago(iso) {
    if (!iso) return "—";
    const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    return h("time", { datetime: iso, title: iso }, `${seconds} s ago`);
  }

  function link(href, text) {
    return h("a", { href }, text);
  }

  function hashFor(path, params) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v) query.set(k, v);
    const text = query.toString();
    return `#${path}${text ? `?${text}` : ""}`;
  }

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(status, message, errors) {
      super(message);
      this.status = status;
      this.errors = errors || [];
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function headers(extra) {
    return Object.assign({ Authorization: `Bearer ${token()}`, Accept: "application/json" }, extra);
  }

  async function api(method, path, body) {
    const init = { method, headers: headers(), cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let envelope = null;
    try {
      envelope = await response.json();
    } catch (_) {
      envelope = null;
    }
    if (response.status === 401) {
      signOut("The token was refused (401): enter a valid admin token.");
    }
    if (!response.ok) {
      const message = (envelope && envelope.message) || response.statusText;
      throw new ApiError(response.status, message, envelope && envelope.errors);
    }
    return envelope ? envelope.data : null;
  }

  function describe(error) {
    if (error instanceof ApiError) {
      const details = error.errors.map((e) => `${e.loc}: ${e.msg}`).join("; ");
      return `${error.status}: ${error.message}${details ? ` (${details})` : ""}`;
    }
    return String(error && error.message ? error.message : error);
  }

  /* A button that runs an action once at a time and reports its outcome in ``status``. */
  function action(label, run, opts) {
    const status = h("span", { role: "status", class: "hint" });
    const button = h("button", { type: "button", class: (opts && opts.cls) || null }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "…";
      try {
        status.textContent = (await run()) || "Done.";
      } catch (error) {
        status.textContent = describe(error);
        status.className = "error";
      } finally {
        button.disabled = false;
      }
    });
    return [button, status];
  }

  /* ---------- the live stream (fetch-based SSE: the token goes in a header) ---------- */

  async function runStream() {
    let pause = 1000;
    while (token()) {
      const controller = new AbortController();
      streamAbort = controller;
      try {
        const response = await fetch(STREAM_PATH, {
          headers: headers({ Accept: "text/event-stream" }), cache: "no-store",
          credentials: "omit", signal: controller.signal,
        });
        if (response.status === 401) {
          signOut("The token was refused (401): enter a valid admin token.");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        live.textContent = "live";
        live.classList.add("on");
        pause = 1000;
        await readEvents(response.body.getReader());
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      live.textContent = "reconnecting…";
      live.classList.remove("on");
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 10000);
    }
  }

  async function readEvents(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of frame.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (event === "overview" && data.length) {
          overview = JSON.parse(data.join("\n"));
          for (const listener of listeners) listener(overview);
        }
      }
    }
  }

  function onOverview(listener) {
    listeners.add(listener);
    cleanups.push(() => listeners.delete(listener));
    if (overview) listener(overview);
  }

  function every(ms, run) {
    const timer = setInterval(run, ms);
    cleanups.push(() => clearInterval(timer));
  }

  /* ---------- charts: inline SVG ---------- */

  function chart(title, values, opts) {
    const width = 300;
    const height = 80;
    const known = values.filter((v) => v !== null && v !== undefined);
    const max = Math.max(opts.min || 1, ...known);
    const step = width / Math.max(values.length - 1, 1);
    const y = (v) => height - 4 - (v / max) * (height - 8);
    const segments = [];
    let current = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) {
        if (current.length) segments.push(current);
        current = [];
      } else current.push(`${(i * step).toFixed(1)},${y(v).toFixed(1)}`);
    });
    if (current.length) segments.push(current);
    const last = known.length ? known[known.length - 1] : null;
    const format = opts.format || ((v) => String(v));
    const summary = last === null ? `${title}: no samples yet` : `${title}: now ${format(last)}, peak ${format(Math.max(...known))} over the last hour`;
    const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": summary },
      svg("title", null, summary),
      svg("line", { class: "axis", x1: 0, y1: height - 4, x2: width, y2: height - 4 }),
      segments.map((points) => svg("polyline", { class: opts.bad ? "line bad" : "line", points: points.length === 1 ? `${points[0]} ${points[0]}` : points.join(" ") })),
    );
    return h("figure", { class: "chart card" },
      h("figcaption", null, h("span", null, title), h("strong", null, last === null ? "—" : format(last))),
      drawing,
      h("figcaption", null, h("span", null, "60 min ago"), h("span", null, `max ${format(max)}`), h("span", null, "now")));
  }

  function historyCharts(history) {
    const minutes = history.minutes;
    const counts = (name) => minutes.map((m) => (m.counts ? m.counts[name] : null));
    const succeeded = counts("succeeded");
    const failureRate = minutes.map((m) => {
      if (!m.counts) return null;
      const failed = m.counts.retried + m.counts.dead;
      const total = failed + m.counts.succeeded;
      return total ? (100 * failed) / total : 0;
    });
    return h("div", { class: "charts" },
      chart("Backlog (tasks waiting or running)", minutes.map((m) => m.backlog), {}),
      chart("Throughput (succeeded / min)", succeeded, {}),
      chart("Failure rate (retried + dead)", failureRate, { min: 1, bad: true, format: (v) => `${v.toFixed(1)} %` }));
  }

  /* ---------- pages ---------- */

  function queueRow(item) {
    const backlog = (item.lag ?? item.depth) + item.pending;
    return h("tr", { "data-queue": item.queue },
      h("td", null, link(`#/queues/${encodeURIComponent(item.queue)}`, item.queue)),
      h("td", null, item.paused ? badge("paused") : badge("running", "running-queue")),
      cell(backlog, "num"), cell(item.pending, "num"), cell(item.lag, "num hide-narrow"),
      cell(item.oldest_pending_age_s, "num hide-narrow"), cell(item.dead_letters, "num"),
      cell(item.consumers, "num hide-narrow"));
  }

  const QUEUE_HEADERS = [["Queue"], ["State"], ["Backlog", "num"], ["Running", "num"],
    ["Not delivered", "num hide-narrow"], ["Oldest running (s)", "num hide-narrow"],
    ["Dead letters", "num"], ["Consumers", "num hide-narrow"]];

  async function pageOverview() {
    const figures = h("div", null, notice("Waiting for the live figures…"));
    const charts = h("div");
    show(h("h1", { tabindex: "-1" }, "Overview"), h("h2", null, "Queues"), figures, h("h2", null, "Last hour"), charts);
    onOverview((data) => {
      const items = data.queues.items;
      figures.replaceChildren(table(QUEUE_HEADERS, items.map(queueRow), "No queues configured."),
        h("p", { class: "hint" }, "Live: updated ", ago(data.at)));
    });
    const drawCharts = async () => {
      const queues = overview ? overview.queues.items.map((q) => q.queue) : (await api("GET", "/api/v1/queues")).items.map((q) => q.queue);
      const sections = [];
      for (const queue of queues) {
        const history = await api("GET", `/api/v1/queues/${encodeURIComponent(queue)}/history`);
        sections.push(h("section", { class: "queue-charts", "aria-label": `${queue} charts` },
          h("h3", null, link(`#/queues/${encodeURIComponent(queue)}`, queue)), historyCharts(history)));
      }
      charts.replaceChildren(...sections);
    };
    every(60000, () => drawCharts().catch((e) => charts.replaceChildren(notice(describe(e), true))));
    await drawCharts();
  }

  async function pageQueue(queue) {
    const figures = h("div");
    const state = h("span");
    const pauseButton = h("button", { type: "button" }, "…");
    const result = h("span", { role: "status", class: "hint" });
    let paused = null;
    pauseButton.addEventListener("click", async () => {
      pauseButton.disabled = true;
      try {
        const verb = paused ? "resume" : "pause";
        const data = await api("POST", `/api/v1/queues/${encodeURIComponent(queue)}/${verb}`);
        render({ paused: data.paused });
        if (lastItems) draw(lastItems.map((q) => (q.queue === queue ? { ...q, paused: data.paused } : q)));
        result.textContent = data.paused ? "Paused: workers start none of its tasks." : "Resumed.";
      } catch (error) {
        result.textContent = describe(error);
      } finally {
        pauseButton.disabled = false;
      }
    });
    const render = (item) => {
      paused = item.paused;
      state.replaceChildren(paused ? badge("paused") : badge("running", "running-queue"));
      pauseButton.textContent = paused ? "Resume queue" : "Pause queue";
    };
    const charts = h("div", null, notice("Loading the last hour…"));
    show(h("h1", { tabindex: "-1" }, "Queue ", h("span", { class: "mono" }, queue), " ", state),
      h("div", { class: "actions" }, pauseButton, result,
        link(hashFor("/tasks", { queue }), "Tasks of this queue"),
        link(hashFor("/dead-letters", { queue }), "Dead letters of this queue")),
      figures, h("h2", null, "Last hour (per minute)"), charts);
    let lastItems = null;
    const draw = (items) => {
      lastItems = items;
      const item = items.find((q) => q.queue === queue);
      if (!item) {
        figures.replaceChildren(notice(`No configured queue is called ${queue}.`, true));
        return;
      }
      render(item);
      const rows = [queueRow(item), ...(item.partitions || []).map((p) => queueRow({ ...p, queue: `${queue} ~${p.partition}`, paused: item.paused }))];
      figures.replaceChildren(table(QUEUE_HEADERS, rows));
    };
    onOverview((data) => draw(data.queues.items));
    if (!overview) draw((await api("GET", "/api/v1/queues")).items);
    const drawCharts = async () => charts.replaceChildren(historyCharts(await api("GET", `/api/v1/queues/${encodeURIComponent(queue)}/history`)));
    every(60000, () => drawCharts().catch((e) => charts.replaceChildren(notice(describe(e), true))));
    await drawCharts();
  }

  async function queueNames() {
    if (overview) return overview.queues.items.map((q) => q.queue);
    return (await api("GET", "/api/v1/queues")).items.map((q) => q.queue);
  }

  function select(id, label, options, chosen) {
    return h("div", null, h("label", { for: id }, label),
      h("select", { id, name: id }, options.map(([value, text]) => h("option", { value, selected: value === chosen }, text))));
  }

  function input(id, label, value, attrs) {
    return h("div", null, h("label", { for: id }, label), h("input", Object.assign({ id, name: id, value: value || "" }, attrs)));
  }

  async function pageTasks(params) {
    const queues = await queueNames();
    const byId = h("form", { class: "inline", role: "search", "aria-label": "Find a task by id" },
      input("task-id", "Task id", "", { required: true, class: "mono", size: 38 }),
      h("button", { type: "submit" }, "Open task"));
    byId.addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = `#/tasks/${encodeURIComponent(byId.elements["task-id"].value.trim())}`;
    });
    const filters = h("form", { class: "inline", "aria-label": "Filter tasks" },
      select("f-queue", "Queue", [["", "any"], ...queues.map((q) => [q, q])], params.get("queue") || ""),
      select("f-status", "Status", [["", "any"], ...STATUSES.map((s) => [s, s])], params.get("status") || ""),
      input("f-type", "Type", params.get("type"), { placeholder: "e.g. demo.echo" }),
      select("f-limit", "Per page", [["20", "20"], ["50", "50"], ["100", "100"]], params.get("limit") || "50"),
      h("button", { type: "submit" }, "Search"));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const f = filters.elements;
      location.hash = hashFor("/tasks", { queue: f["f-queue"].value, status: f["f-status"].value, type: f["f-type"].value.trim(), limit: f["f-limit"].value });
    });
    const body = h("tbody");
    const more = h("div", { class: "actions" });
    show(h("h1", { tabindex: "-1" }, "Tasks"), byId, filters,
      h("div", { class: "table-wrap" }, h("table", null, h("thead", null, h("tr", null,
        ["Id", "Type", "Queue", "Status", "Attempts", "Created", "Finished"].map((t, i) => h("th", { scope: "col", class: i > 4 ? "hide-narrow" : null }, t)))), body)), more);
    const load = async (cursor) => {
      const query = new URLSearchParams();
      for (const name of ["queue", "status", "type", "limit"]) if (params.get(name)) query.set(name, params.get(name));
      if (cursor) query.set("cursor", cursor);
      const page = await api("GET", `/api/v1/tasks?${query}`);
      for (const task of page.items) {
        body.append(h("tr", null,
          h("td", { class: "mono" }, link(`#/tasks/${encodeURIComponent(task.id)}`, task.id)),
          cell(task.type), cell(task.queue), h("td", null, badge(task.status)), cell(task.attempts, "num"),
          h("td", { class: "hide-narrow" }, when(task.created_at)), h("td", { class: "hide-narrow" }, when(task.finished_at))));
      }
      if (!body.children.length) more.replaceChildren(notice("No task matches these filters."));
      else if (page.next_cursor) more.replaceChildren(...action("Load more", async () => { await load(page.next_cursor); return ""; }));
      else more.replaceChildren(h("p", { class: "hint" }, "End of the list."));
    };
    await load(null);
  }

  async function pageTask(id) {
    const task = await api("GET", `/api/v1/tasks/${encodeURIComponent(id)}`);
    const actions = h("div", { class: "actions" });
    if (task.status === "pending" || task.status === "scheduled") {
      actions.append(...action("Cancel task", async () => {
        await api("DELETE", `/api/v1/tasks/${encodeURIComponent(id)}`);
        setTimeout(route, 300);
        return "Cancel requested.";
      }, { cls: "danger" }));
    }
    show(h("h1", { tabindex: "-1" }, "Task ", h("span", { class: "mono" }, task.id), " ", badge(task.status)),
      actions,
      h("div", { class: "grid2" },
        h("section", { class: "card", "aria-label": "Task fields" }, fields([
          ["Type", task.type], ["Queue", link(`#/queues/${encodeURIComponent(task.queue)}`, task.queue)],
          ["Status", task.status], ["Attempts started", String(task.attempts)], ["Origin", task.origin],
          ["Client (subject)", task.subject], ["Created", when(task.created_at)], ["Due", when(task.due_at)],
          ["Started", when(task.started_at)], ["Finished", when(task.finished_at)],
          ["Replay of", task.replay_of ? link(`#/tasks/${encodeURIComponent(task.replay_of)}`, task.replay_of) : null],
          ["Revision", String(task.revision)],
        ])),
        h("section", { class: "card", "aria-label": "Result and error" },
          h("h2", null, "Result"), json(task.result),
          h("h2", null, "Error"), h("pre", { class: "mono" }, task.error || "—"),
          task.event_attributes ? [h("h2", null, "CloudEvent attributes"), json(task.event_attributes)] : null,
          h("p", { class: "hint" }, "The payload is not kept in the read model; a dead letter shows its task's payload."))));
    if (!FINAL.has(task.status)) every(2000, async () => {
      const now = await api("GET", `/api/v1/tasks/${encodeURIComponent(id)}`);
      if (now.status !== task.status || now.attempts !== task.attempts) route();
    });
  }

  async function pageDeadLetters(params) {
    const queues = await queueNames();
    const queue = params.get("queue") || queues[0];
    const picker = h("form", { class: "inline", "aria-label": "Choose a queue" },
      select("d-queue", "Queue", queues.map((q) => [q, q]), queue), h("button", { type: "submit" }, "Show"));
    picker.addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = hashFor("/dead-letters", { queue: picker.elements["d-queue"].value });
    });
    const page = await api("GET", `/api/v1/dead-letters?${new URLSearchParams({ queue, limit: "100" })}`);
    const rows = page.items.map((d) => h("tr", { "data-entry": d.entry_id },
      h("td", { class: "mono" }, link(`#/dead-letters/${encodeURIComponent(queue)}/${encodeURIComponent(d.entry_id)}`, d.entry_id)),
      cell(d.type), cell(d.reason), h("td", { class: "mono hide-narrow" }, (d.error || "—").slice(0, 160)),
      cell(d.attempts, "num hide-narrow"), h("td", { class: "hide-narrow" }, when(d.dead_at)),
      h("td", null, ...action("Replay", async () => replayOne(queue, d.entry_id)))));
    const bulk = h("form", { class: "inline", "aria-label": "Replay matching dead letters" },
      input("r-type", "Type (optional)", ""), input("r-reason", "Reason (optional)", ""),
      input("r-limit", "At most", "100", { type: "number", min: 1, max: 1000 }),
      h("button", { type: "submit" }, "Replay matching"));
    const bulkStatus = h("p", { role: "status", class: "hint" });
    bulk.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = bulk.elements;
      const filter = { queue, limit: Number(f["r-limit"].value) };
      if (f["r-type"].value.trim()) filter.type = f["r-type"].value.trim();
      if (f["r-reason"].value.trim()) filter.reason = f["r-reason"].value.trim();
      try {
        const report = await api("POST", "/api/v1/dead-letters/replay", filter);
        const replayed = report.replayed || [];
        bulkStatus.replaceChildren(`Replayed ${replayed.length} dead letter(s) as new tasks`,
          report.skipped_undecodable ? ` (${report.skipped_undecodable} undecodable skipped)` : "", ": ",
          replayed.map((task, i) => [i ? ", " : "", link(`#/tasks/${encodeURIComponent(task.id)}`, task.id)]), ".");
      } catch (error) {
        bulkStatus.textContent = describe(error);
      }
    });
    show(h("h1", { tabindex: "-1" }, "Dead letters"), picker,
      table([["Entry"], ["Type"], ["Reason"], ["Error", "hide-narrow"], ["Attempts", "num hide-narrow"], ["Died", "hide-narrow"], ["Action"]],
        rows, `Queue ${queue} has no dead letters.`),
      page.next_cursor ? h("p", { class: "hint" }, "Showing the newest 100.") : null,
      h("h2", null, "Replay matching"), bulk, bulkStatus,
      h("h2", null, "Purge"), purgeControl(queue, page.items.length));
  }

  async function replayOne(queue, entryId) {
    const replayed = await api("POST", `/api/v1/dead-letters/${encodeURIComponent(queue)}/${encodeURIComponent(entryId)}/replay`);
    return `Replayed as task ${replayed.id}.`;
  }

  function purgeControl(queue, shown) {
    const box = h("div");
    const ask = () => box.replaceChildren(h("button", { type: "button", class: "danger", onclick: confirmStep }, `Purge the dead letters of ${queue}…`));
    const confirmStep = () => {
      const yes = h("button", { type: "button", class: "danger" }, "Yes, delete them");
      const no = h("button", { type: "button", class: "secondary", onclick: ask }, "Keep them");
      const status = h("p", { role: "status", class: "hint" });
      yes.addEventListener("click", async () => {
        try {
          const answer = await api("DELETE", `/api/v1/dead-letters?${new URLSearchParams({ queue })}`);
          status.textContent = `Deleted ${answer.deleted} dead letters.`;
          setTimeout(route, 800);
        } catch (error) {
          status.textContent = describe(error);
        }
      });
      box.replaceChildren(h("div", { class: "card confirm", role: "alertdialog", "aria-label": "Confirm purge" },
        h("p", null, `Delete every dead letter of queue ${queue} (${shown}${shown >= 100 ? "+" : ""} shown)? This cannot be undone.`),
        h("div", { class: "actions" }, yes, no), status));
      yes.focus();
    };
    ask();
    return box;
  }

  /* The task's payload: its ``data`` field, pretty-printed when it is JSON text. */
  function payloadText(taskFields) {
    const data = taskFields && taskFields.data;
    if (typeof data !== "string") return data === undefined ? "—" : JSON.stringify(data, null, 2);
    try {
      return JSON.stringify(JSON.parse(data), null, 2);
    } catch (_) {
      return data;
    }
  }

  async function pageDeadLetter(queue, entryId) {
    const base = `/api/v1/dead-letters/${encodeURIComponent(queue)}/${encodeURIComponent(entryId)}`;
    const letter = await api("GET", base);
    const outcome = h("p", { role: "status" });
    const replay = h("button", { type: "button" }, "Replay this task");
    replay.addEventListener("click", async () => {
      replay.disabled = true;
      try {
        const replayed = await api("POST", `${base}/replay`);
        outcome.replaceChildren("Replayed as ", link(`#/tasks/${encodeURIComponent(replayed.id)}`, `task ${replayed.id}`), ".");
      } catch (error) {
        outcome.textContent = describe(error);
        replay.disabled = false;
      }
    });
    const remove = action("Delete this dead letter", async () => {
      await api("DELETE", base);
      location.hash = hashFor("/dead-letters", { queue });
      return "Deleted.";
    }, { cls: "danger" });
    show(h("h1", { tabindex: "-1" }, "Dead letter ", h("span", { class: "mono" }, entryId)),
      h("div", { class: "actions" }, replay, ...remove, link(hashFor("/dead-letters", { queue }), "Back to the list")), outcome,
      h("div", { class: "grid2" },
        h("section", { class: "card", "aria-label": "Dead letter fields" }, fields([
          ["Queue", queue], ["Partition", String(letter.partition ?? 0)],
          ["Task", letter.task_id ? link(`#/tasks/${encodeURIComponent(letter.task_id)}`, letter.task_id) : null],
          ["Type", letter.type], ["Reason", letter.reason], ["Attempts", String(letter.attempts ?? "—")], ["Died", when(letter.dead_at)],
        ]), h("h2", null, "Error"), h("pre", { class: "mono" }, letter.error || "—")),
        h("section", { class: "card", "aria-label": "Task fields" },
          h("h2", null, "Payload"), h("pre", { class: "mono", "data-payload": "" }, payloadText(letter.task_fields)),
          h("h2", null, "Task fields"), json(letter.task_fields))));
  }

  async function pageSchedules() {
    const list = await api("GET", "/api/v1/schedules");
    const rows = list.items.map((item) => {
      const s = item.schedule;
      const enabled = s.enabled !== false;
      return h("tr", { "data-schedule": s.id },
        h("td", { class: "mono" }, s.id), cell(item.description), h("td", { class: "mono hide-narrow" }, s.cron || "—"),
        cell(`${s.task.type} → ${s.task.queue || "default"}`), h("td", null, enabled ? badge("enabled", "succeeded") : badge("paused")),
        h("td", { class: "hide-narrow" }, h("ul", null, item.next_fires.slice(0, 3).map((t) => h("li", null, when(t))))),
        h("td", null, ...action(enabled ? "Pause" : "Resume", async () => {
          await api("PUT", `/api/v1/schedules/${encodeURIComponent(s.id)}`, Object.assign({}, s, { enabled: !enabled }));
          setTimeout(route, 300);
          return enabled ? "Paused." : "Resumed.";
        })));
    });
    show(h("h1", { tabindex: "-1" }, "Schedules"),
      table([["Id"], ["When"], ["Cron", "hide-narrow"], ["Task → queue"], ["State"], ["Next fires", "hide-narrow"], ["Action"]], rows, "No schedules."),
      h("p", { class: "hint" }, "Pausing sets the schedule's enabled flag (PUT); the scheduler applies it within its poll interval."));
  }

  async function pageWorkers() {
    const holder = h("div", null, notice("Waiting for the live figures…"));
    show(h("h1", { tabindex: "-1" }, "Workers"), holder);
    const draw = (workers) => {
      const rows = workers.items.map((w) => h("tr", { "data-consumer": w.consumer },
        h("td", { class: "mono" }, w.consumer), cell(w.host, "hide-narrow"), cell(w.pid, "num hide-narrow"), cell(w.version, "hide-narrow"),
        cell(w.queues.join(", ")), cell(`${w.in_flight} / ${w.concurrency}`, "num"),
        h("td", { class: "hide-narrow" }, when(w.started_at)), h("td", null, ago(w.last_heartbeat))));
      holder.replaceChildren(table([["Consumer"], ["Host", "hide-narrow"], ["PID", "num hide-narrow"], ["Version", "hide-narrow"], ["Queues"],
        ["In flight", "num"], ["Started", "hide-narrow"], ["Heartbeat"]], rows, "No live worker: none has sent a heartbeat lately."));
    };
    onOverview((data) => draw(data.workers));
    if (!overview) draw(await api("GET", "/api/v1/workers"));
  }

  /* ---------- routing and sign-in ---------- */

  const ROUTES = [
    [/^\/?$/, () => pageOverview()],
    [/^\/queues\/([^/]+)$/, (m) => pageQueue(m[1])],
    [/^\/tasks$/, (_m, q) => pageTasks(q)],
    [/^\/tasks\/([^/]+)$/, (m) => pageTask(m[1])],
    [/^\/dead-letters$/, (_m, q) => pageDeadLetters(q)],
    [/^\/dead-letters\/([^/]+)\/([^/]+)$/, (m) => pageDeadLetter(m[1], m[2])],
    [/^\/schedules$/, () => pageSchedules()],
    [/^\/workers$/, () => pageWorkers()],
  ];

  async function route() {
    for (const cleanup of cleanups) cleanup();
    cleanups = [];
    if (!token()) return;
    const raw = location.hash.replace(/^#/, "") || "/";
    const [path, query] = raw.split("?");
    const params = new URLSearchParams(query || "");
    for (const a of document.querySelectorAll(".top nav a")) {
      const target = a.getAttribute("href").slice(1);
      const current = target === "/" ? path === "/" || path.startsWith("/queues") : path.startsWith(target);
      if (current) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const found = ROUTES.map(([pattern, page]) => [path.match(pattern), page]).find(([m]) => m);
    if (!found) {
      show(h("h1", null, "Not found"), notice(`No page at ${path}.`, true));
      return;
    }
    const [match, page] = found;
    const decoded = match.map((part) => (part === undefined ? part : decodeURIComponent(part)));
    show(h("p", { class: "hint" }, "Loading…"));
    try {
      await page(decoded, params);
      const heading = view.querySelector("h1");
      // Screen-reader and keyboard users land on the new page's heading.
      if (heading && !login.contains(document.activeElement)) heading.focus({ preventScroll: true });
    } catch (error) {
      show(h("h1", null, "Could not load this page"), notice(describe(error), true));
    }
  }

  function signOut(message) {
    if (streamAbort) streamAbort.abort();
    sessionStorage.removeItem(TOKEN_KEY);
    overview = null;
    view.replaceChildren();
    login.hidden = false;
    forget.hidden = true;
    live.textContent = "not connected";
    live.classList.remove("on");
    document.getElementById("login-error").textContent = message || "";
    document.getElementById("token").focus();
  }

  function signIn() {
    login.hidden = true;
    forget.hidden = false;
    runStream();
    route();
  }

  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = document.getElementById("token");
    sessionStorage.setItem(TOKEN_KEY, field.value.trim());
    field.value = "";
    signIn();
  });
  forget.addEventListener("click", () => signOut("Token forgotten."));
  window.addEventListener("hashchange", route);
  if (token()) signIn();
  else signOut("");
})();
