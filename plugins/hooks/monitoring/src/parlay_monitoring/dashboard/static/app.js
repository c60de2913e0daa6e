// parlay dashboard: the pages. Each page fetches JSON from /api and draws it; pages of a live run refresh.
"use strict";

(function () {
  const C = window.Charts;
  const main = document.getElementById("main");
  const crumbs = document.getElementById("crumbs");
  const liveBox = document.getElementById("live");
  const POLL = Math.max(1000, parseInt(document.body.dataset.poll, 10) || 5000);

  // --- helpers ----------------------------------------------------------------------------------

  /** An element: h("a", {href, class, text, onclick}, ...children); text only through text nodes. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return response.json();
  }

  const enc = encodeURIComponent;
  const runUrl = (run) => "/workflows/" + enc(run);
  const taskUrl = (run, task) => runUrl(run) + "/tasks/" + task;
  const api = (run, rest) => "/api/workflows/" + enc(run) + (rest || "");

  function num(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function when(t) {
    if (!t) return "–";
    const d = new Date(t * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function duration(s) {
    if (s === null || s === undefined || isNaN(s)) return "–";
    if (s < 0) s = 0;
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 60) return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + pad(Math.floor(s % 60)) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + pad(Math.floor((s % 3600) / 60)) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }
  function bytes(b) {
    if (b === null || b === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(b < 10 ? 2 : b < 100 ? 1 : 0) : Math.round(b)) + " " + units[i];
  }
  function shortId(run) { return run.length > 13 ? run.slice(0, 8) + "…" : run; }

  function stateLabel(state) {
    const sw = h("i", { class: "swatch" });
    sw.style.background = C.stateColor(state);
    return h("span", { class: "state" }, sw, state || "?");
  }
  function card(title, note) {
    const noteBox = h("span", { class: "note" }, note || "");
    const tools = h("span", { class: "tools" });
    const body = h("div");
    const node = h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", { text: title }), noteBox, tools), body);
    return { node, body, note: noteBox, tools };
  }
  function table(columns, rows) {
    const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null, text: c.title })));
    const body = rows.map((row) => h("tr", {}, columns.map((c) => {
      const value = c.render(row);
      return h("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null }, value === undefined ? "" : value);
    })));
    return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
  }
  function pager(page, perPage, total, hasMore, go) {
    const pages = total === null || total === undefined ? null : Math.max(1, Math.ceil(total / perPage));
    const last = pages !== null ? page >= pages : !hasMore;
    return h("div", { class: "pager" },
      h("button", { disabled: page <= 1, onclick: () => go(page - 1), text: "‹ Previous" }),
      h("span", { text: pages !== null ? `page ${num(page)} of ${num(pages)} · ${num(total)} in all` : `page ${num(page)}` }),
      h("button", { disabled: last, onclick: () => go(page + 1), text: "Next ›" }));
  }
  function setCrumbs(...items) {
    const parts = [h("a", { href: "/", text: "Runs" })];
    for (const item of items) {
      parts.push(h("span", { class: "sep", text: "/" }));
      parts.push(item.href ? h("a", { href: item.href, text: item.text, title: item.title || null })
        : h("span", { text: item.text, title: item.title || null }));
    }
    crumbs.replaceChildren(...parts);
  }
  function setLive(live) {
    liveBox.replaceChildren(...(live ? [h("span", { class: "dot" }), `live · refreshes every ${POLL / 1000} s`] : []));
  }
  function failure(box, error) {
    box.replaceChildren(h("div", { class: "failure", text: "Could not load: " + error.message }));
  }
  /** Runs `load` into `box`, showing its error there instead of failing the page. */
  async function guarded(box, load) {
    try {
      await load();
    } catch (error) {
      failure(box, error);
    }
  }
  function appColors(names) {
    const colors = {};
    names.forEach((name, i) => { colors[name] = C.paletteColor(i); });
    return colors;
  }
  function navigate(url) { window.location.href = url; }

  // --- the runs ---------------------------------------------------------------------------------

  function pageWorkflows() {
    const view = { page: 1, live: false };
    setCrumbs();
    const list = card("Runs", "newest first");
    main.replaceChildren(h("h1", { text: "Runs" }),
      h("div", { class: "subtitle", text: "Every run recorded in this monitoring database." }), list.node);
    async function refresh() {
      await guarded(list.body, async () => {
        const data = await getJSON(`/api/workflows?page=${view.page}&per_page=25`);
        view.live = data.items.some((r) => r.live);
        setLive(view.live);
        const rows = data.items;
        list.body.replaceChildren(rows.length ? table([
          { title: "Name and run id", render: (r) => [h("a", { href: runUrl(r.run_id), class: "run-link nowrap", text: r.name || "(unnamed)" }),
            h("div", { class: "mono small muted", title: r.run_id, text: shortId(r.run_id) })] },
          { title: "Status", render: statusBadge },
          { title: "Began", render: (r) => h("span", { class: "nowrap", text: when(r.began) }) },
          { title: "Duration", num: true, render: (r) => h("span", { class: "nowrap", text: duration(r.duration) }) },
          { title: "Tasks done / failed", render: (r) => taskBar(r.tasks) },
          { title: "User and host", render: (r) => [h("div", { text: r.user }), h("div", { class: "small muted", text: r.host })] },
          { title: "Run dir", render: (r) => h("span", { class: "mono small path", text: r.rundir }) },
        ], rows) : h("p", { class: "muted", text: "No runs recorded yet." }),
        pager(data.page, data.per_page, data.total, false, (p) => { view.page = p; refresh(); }));
      });
    }
    return { refresh, get live() { return view.live; } };
  }

  function statusBadge(run) {
    if (run.live) return h("span", { class: "badge live", text: "running" });
    if (run.quiet) {
      return h("span", { class: "badge quiet", text: "no end recorded",
        title: "no change since " + when(run.last_change) + ": it stopped without recording its end, or its tries are long" });
    }
    return h("span", { class: "badge done", text: "ended" });
  }

  function taskBar(t) {
    const total = t.total || 0;
    const box = h("span", { class: "bar-mini" });
    for (const [n, color] of [[t.done, C.stateColor("exec_done")], [t.failed, C.stateColor("failed")]]) {
      const part = h("span");
      part.style.width = (total ? (100 * (n || 0)) / total : 0) + "%";
      part.style.background = color;
      box.appendChild(part);
    }
    return h("span", { class: "nowrap" }, box, `${num(t.done)} / ${num(t.failed)}`, h("span", { class: "muted", text: ` of ${num(total)}` }));
  }

  // --- one run ----------------------------------------------------------------------------------

  function runHeader(run, summary, tab) {
    setCrumbs({ href: runUrl(run), text: summary.name || shortId(run), title: run });
    const tabs = [["", "Overview"], ["/blocks", "Blocks & nodes"], ["/resources", "Resources"]];
    const facts = [
      ["Run id", h("span", { class: "mono", text: run })],
      ["Began", when(summary.began)],
      [summary.live ? "Running for" : "Duration", duration(summary.end - summary.began)],
      summary.quiet ? ["Last change", when(summary.last_change)]
        : ["Ended", summary.completed ? when(summary.completed) : summary.live ? "not yet" : "–"],
      ["Tasks", num(summary.tasks)],
      ["Tries", num(summary.tries)],
      ["Host", summary.host],
      ["User", summary.user],
      ["Blocks / nodes", `${num(summary.blocks)} / ${num(summary.nodes)}`],
      ["Run dir", h("span", { class: "mono small", text: summary.rundir })],
    ];
    return h("div", {},
      h("h1", {}, summary.name || "(unnamed run)", " ", statusBadge(summary)),
      summary.version ? h("div", { class: "subtitle", text: "version " + summary.version }) : null,
      h("div", { class: "facts" }, facts.map(([k, v]) => h("div", { class: "fact" }, h("div", { class: "k", text: k }), h("div", { class: "v" }, v)))),
      h("nav", { class: "tabs" }, tabs.map(([path, label]) =>
        h("a", { href: runUrl(run) + path, class: path === tab ? "on" : null, text: label }))));
  }

  function pageWorkflow(run) {
    const view = { live: false, summary: null, zoom: null, states: null, activeOnly: false, failedState: "failed", failedPage: 1, tasks: { state: "", app: "", page: 1 } };
    const head = h("div");
    const chips = h("div", { class: "chips" });
    const states = card("Tasks by state over time");
    const gantt = card("Tries per executor and block", "drag across the chart to zoom in");
    const apps = card("Apps");
    const failed = card("Failed tasks");
    const tasks = card("Tasks");
    const resetZoom = h("button", { text: "Whole run", hidden: true, onclick: () => { view.zoom = null; loadGantt(); } });
    gantt.tools.append(resetZoom);
    main.replaceChildren(head, chips, states.node, gantt.node, apps.node, failed.node, tasks.node);

    async function loadSummary() {
      const s = await getJSON(api(run));
      view.summary = s;
      view.live = s.live;
      setLive(s.live);
      head.replaceChildren(runHeader(run, s, ""));
      chips.replaceChildren(...Object.entries(s.counts).map(([state, n]) => {
        const sw = h("i", { class: "swatch" });
        sw.style.background = C.stateColor(state);
        return h("a", { class: "chip", href: "#tasks", onclick: (e) => { e.preventDefault(); view.tasks = { state, app: "", page: 1 }; loadTasks(); tasks.node.scrollIntoView(); } },
          sw, state, h("b", { text: num(n) }));
      }));
      return s;
    }
    const FINAL = ["exec_done", "memo_done", "failed", "dep_fail", "cancelled"];
    function drawStates() {
      const d = view.states;
      if (!d) return;
      const names = d.states.filter((name) => !view.activeOnly || !FINAL.includes(name));
      const series = names.map((name) => ({ name, color: C.stateColor(name), values: [0, ...d.series[name]] }));
      states.tools.replaceChildren(...[[false, "all states"], [true, "unfinished only"]].map(([active, label]) =>
        h("button", { text: label, disabled: view.activeOnly === active, onclick: () => { view.activeOnly = active; drawStates(); } })));
      C.timeSeries(states.body, { times: [d.start, ...d.times], series, stacked: true, height: 250,
        emptyText: view.activeOnly ? "no unfinished tasks" : "no state changes yet" });
    }
    async function loadStates() {
      await guarded(states.body, async () => {
        const d = await getJSON(api(run, "/states"));
        states.note.textContent = d.sample.exact ? `all ${num(d.sample.of)} tasks`
          : `estimated from the state changes of ${num(d.sample.sampled_tasks)} of ${num(d.sample.of)} tasks (final states scaled to their exact counts)`;
        view.states = d;
        drawStates();
      });
    }
    async function loadGantt() {
      await guarded(gantt.body, async () => {
        const q = view.zoom ? `?start=${view.zoom[0]}&end=${view.zoom[1]}` : "";
        const d = await getJSON(api(run, "/gantt" + q));
        resetZoom.hidden = !view.zoom;
        const how = d.mode === "bars" ? `${num(d.bars.length)} tries` + (d.truncated ? " (the first ones; zoom in for the rest)" : "")
          : `${num(d.tries_in_window)} tries: shade = tries running per lane and moment` + (d.sample && !d.sample.exact ? `, estimated from ${num(d.sample.tasks)} of ${num(d.sample.of)} tasks` : "") + "; zoom in to see each try";
        gantt.note.textContent = (view.zoom ? `${when(d.start)} – ${when(d.end)}: ` : "") + how
          + (d.lanes_total > d.lanes.length ? `; the first ${num(d.lanes.length)} of ${num(d.lanes_total)} lanes` : "");
        const scroll = h("div", { class: "gantt-scroll" });
        gantt.body.replaceChildren(scroll);
        const names = (view.summary ? view.summary.apps : []).map((a) => a.name);
        C.gantt(scroll, d, {
          appColors: appColors(names),
          onZoom: (a, b) => { view.zoom = [a, b]; loadGantt(); },
          onBar: (bar) => navigate(taskUrl(run, bar.task_id)),
        });
        if (d.mode === "bars" && names.length) {
          const colors = appColors(names);
          const legend = h("div", { class: "legend" });
          for (const name of names.concat(["failed try"])) {
            const sw = h("i", { class: "swatch" });
            sw.style.background = name === "failed try" ? C.stateColor("failed") : colors[name];
            legend.append(h("span", {}, sw, name));
          }
          gantt.body.append(legend);
        }
      });
    }
    async function loadApps() {
      await guarded(apps.body, async () => {
        const d = await getJSON(api(run, "/apps"));
        const m = d.runtime_method;
        apps.note.textContent = "run time of tries (running → returned); percentiles: " + (m.exact ? "exact, " + m.how : "estimated from " + m.how);
        const rt = (key) => (r) => r.runtime ? duration(r.runtime[key]) : "–";
        apps.body.replaceChildren(table([
          { title: "App", render: (r) => h("b", { text: r.name }) },
          { title: "Tasks", num: true, render: (r) => num(r.tasks) },
          { title: "Done", num: true, render: (r) => num(r.done) },
          { title: "Failed", num: true, render: (r) => r.failed ? h("a", { href: "#failed", onclick: (e) => { e.preventDefault(); view.tasks = { state: "failed,dep_fail", app: r.name, page: 1 }; loadTasks(); tasks.node.scrollIntoView(); }, text: num(r.failed) }) : "0" },
          { title: "Tries timed", num: true, render: (r) => r.runtime ? num(r.runtime.tries) : "–" },
          { title: "Mean", num: true, render: rt("mean") },
          { title: "p50", num: true, render: rt("p50") },
          { title: "p90", num: true, render: rt("p90") },
          { title: "p99", num: true, render: rt("p99") },
          { title: "Max", num: true, render: rt("max") },
        ], d.apps));
      });
    }
    async function loadFailed() {
      await guarded(failed.body, async () => {
        const d = await getJSON(api(run, `/tasks?state=${view.failedState}&page=${view.failedPage}&per_page=20`));
        const counts = view.summary ? view.summary.counts : {};
        failed.tools.replaceChildren(...["failed", "dep_fail"].map((s) => h("button", {
          text: `${s} (${num(counts[s] || 0)})`, disabled: s === view.failedState,
          onclick: () => { view.failedState = s; view.failedPage = 1; loadFailed(); },
        })));
        failed.note.textContent = view.failedState === "failed" ? "tasks whose last try raised" : "tasks not run because a dependency failed";
        failed.body.replaceChildren(d.items.length ? taskTable(run, d.items, true) : h("p", { class: "muted", text: "None." }),
          d.total > d.per_page ? pager(d.page, d.per_page, d.total, d.has_more, (p) => { view.failedPage = p; loadFailed(); }) : "");
      });
    }
    async function loadTasks() {
      await guarded(tasks.body, async () => {
        const t = view.tasks;
        const d = await getJSON(api(run, `/tasks?state=${enc(t.state)}&app=${enc(t.app)}&page=${t.page}&per_page=25`));
        const stateSelect = h("select", { onchange: (e) => { view.tasks = { ...t, state: e.target.value, page: 1 }; loadTasks(); } },
          h("option", { value: "", text: "every state" }),
          Object.keys(view.summary ? view.summary.counts : {}).concat(t.state && t.state.includes(",") ? [t.state] : [])
            .map((s) => h("option", { value: s, text: s, selected: s === t.state })));
        const appSelect = h("select", { onchange: (e) => { view.tasks = { ...t, app: e.target.value, page: 1 }; loadTasks(); } },
          h("option", { value: "", text: "every app" }),
          (view.summary ? view.summary.apps : []).map((a) => h("option", { value: a.name, text: a.name, selected: a.name === t.app })));
        tasks.tools.replaceChildren(h("span", { class: "filters" }, stateSelect, appSelect));
        tasks.node.id = "tasks";
        tasks.body.replaceChildren(d.items.length ? taskTable(run, d.items, false) : h("p", { class: "muted", text: "No tasks." }),
          pager(d.page, d.per_page, d.total, d.has_more, (p) => { view.tasks = { ...t, page: p }; loadTasks(); }));
      });
    }
    async function refresh(polling) {
      await guarded(head, loadSummary);
      if (!view.summary) return;
      const loads = [loadStates(), loadApps(), loadFailed(), loadTasks()];
      if (!(polling && view.zoom)) loads.push(loadGantt());
      await Promise.all(loads);
    }
    let width = main.clientWidth;
    window.addEventListener("resize", () => {
      if (Math.abs(main.clientWidth - width) > 40) { width = main.clientWidth; drawStates(); loadGantt(); }
    });
    return { refresh, get live() { return view.live; } };
  }

  function taskTable(run, items, failures) {
    const columns = [
      { title: "Task", render: (r) => h("a", { href: taskUrl(run, r.task_id), class: "task-link mono", text: "#" + r.task_id }) },
      { title: "App", render: (r) => r.app },
      { title: "State", render: (r) => stateLabel(r.state) },
      { title: "Executor", render: (r) => r.executor },
      { title: "Invoked", render: (r) => h("span", { class: "nowrap", text: when(r.invoked) }) },
      { title: failures ? "Took" : "Duration", num: true, render: (r) => r.returned ? duration(r.returned - r.invoked) : "–" },
      { title: "Failed tries", num: true, render: (r) => num(r.fail_count) },
    ];
    if (failures || items.some((r) => r.exception)) columns.push({ title: "Exception", cls: "exc", render: (r) => r.exception || "" });
    return table(columns, items);
  }

  // --- one task ---------------------------------------------------------------------------------

  function pageTask(run, taskId) {
    const view = { live: false };
    async function refresh() {
      await guarded(main, async () => {
        const t = await getJSON(api(run, "/tasks/" + taskId));
        view.live = !["exec_done", "memo_done", "failed", "dep_fail", "cancelled"].includes(t.state);
        setLive(view.live);
        setCrumbs({ href: runUrl(run), text: t.workflow_name || shortId(run), title: run }, { text: "task " + taskId });
        const parts = [
          h("h1", {}, `Task ${taskId}: ${t.app} `, stateLabel(t.state)),
          h("div", { class: "subtitle" }, "run ", h("a", { href: runUrl(run), class: "mono", text: run })),
          h("div", { class: "facts" }, [
            ["Executor", t.executor], ["Invoked", when(t.invoked)], ["Returned", when(t.returned)],
            ["Took", t.returned ? duration(t.returned - t.invoked) : "–"], ["Tries", num(t.tries.length)],
            ["Failed tries", num(t.fail_count)],
          ].map(([k, v]) => h("div", { class: "fact" }, h("div", { class: "k", text: k }), h("div", { class: "v" }, v || "–")))),
        ];
        const failures = t.tries.filter((y) => y.exception);
        if (t.exception || failures.length) {
          const box = card("Failure");
          if (t.exception) box.body.append(h("div", { class: "error-box", id: "exception", text: t.exception }));
          const same = failures.filter((y) => y.exception === t.exception);
          if (t.exception && same.length) {
            box.body.append(h("p", { class: "small muted", text: (same.length === 1 ? "raised by try " : "raised by tries ")
              + same.map((y) => `${y.try_id} (on ${y.host || "?"})`).join(", ") }));
          }
          for (const y of failures.filter((y) => y.exception !== t.exception)) {
            box.body.append(h("p", { class: "small muted", text: `try ${y.try_id} on ${y.host || "?"} raised:` }),
              h("div", { class: "error-box", text: y.exception }));
          }
          parts.push(box.node);
        }
        const streams = card("Output", "stdout and stderr as recorded for this task (the last 64 KiB here; open a file for up to its last MiB)");
        const blocks = [];
        for (const which of ["stdout", "stderr"]) {
          const s = t.streams[which];
          const title = h("div", {}, h("b", { text: which + " " }), s.recorded ? h("span", { class: "mono small", text: s.recorded }) : h("span", { class: "muted", text: "not recorded" }));
          const body = h("div");
          if (s.recorded && s.available) {
            title.append(" ", h("a", { href: `/files/${enc(run)}/${taskId}/${which}`, target: "_blank", rel: "noopener", class: "stream-link", text: `open (${bytes(s.size)})` }));
            body.append(h("pre", { class: "output", id: which, text: "…" }));
            fetch(`/files/${enc(run)}/${taskId}/${which}?tail=65536`).then((r) => r.text()).then((text) => {
              body.firstChild.textContent = text || "(empty)";
            });
          } else if (s.recorded) {
            body.append(h("p", { class: "muted small", text: "not a file on the machine the dashboard runs on" }));
          }
          blocks.push(h("div", {}, title, body));
        }
        streams.body.append(h("div", { class: "streams" }, blocks));
        parts.push(streams.node);
        const tries = card("Tries");
        tries.body.append(t.tries.length ? table([
          { title: "Try", render: (y) => String(y.try_id) },
          { title: "Executor", render: (y) => y.executor },
          { title: "Block", render: (y) => y.block_id || "–" },
          { title: "Host", render: (y) => y.host || "–" },
          { title: "Launched", render: (y) => when(y.launched) },
          { title: "Running", render: (y) => when(y.running) },
          { title: "Returned", render: (y) => when(y.returned) },
          { title: "Queued", num: true, render: (y) => y.running && y.launched ? duration(y.running - y.launched) : "–" },
          { title: "Ran", num: true, render: (y) => y.returned && y.running ? duration(y.returned - y.running) : "–" },
          { title: "Outcome", cls: "exc", render: (y) => y.exception || (y.returned ? h("span", { class: "muted", text: "ok" }) : "") },
        ], t.tries) : h("p", { class: "muted", text: "No tries: the task never ran." }));
        parts.push(tries.node);
        const history = card("State changes");
        history.body.append(table([
          { title: "State", render: (s) => stateLabel(s.state) },
          { title: "Time", render: (s) => when(s.time) },
          { title: "After", num: true, render: (s) => duration(s.time - t.states[0].time) },
          { title: "Try", num: true, render: (s) => String(s.try_id) },
        ], t.states));
        const links = card("Dependencies");
        const chipsOf = (list) => list.length ? h("div", { class: "links" }, list.map((d) =>
          h("a", { href: taskUrl(run, d.task_id), class: "dep" }, stateLabel(d.state), `#${d.task_id} ${d.app}`))) : h("p", { class: "muted small", text: "none" });
        links.body.append(h("p", { class: "small muted", text: "depends on" }), chipsOf(t.dependencies),
          t.missing_dependencies.length ? h("p", { class: "small muted", text: "not recorded: " + t.missing_dependencies.join(", ") }) : "",
          h("p", { class: "small muted", text: `needed by (searched up to task ${num(t.dependents_searched_to)})` }), chipsOf(t.dependents));
        parts.push(h("div", { class: "grid2" }, history.node, links.node));
        if (t.resources.length) {
          const res = card("Resource use", `${num(t.resources.length)} samples`);
          const mem = h("div"), cpu = h("div");
          res.body.append(h("div", { class: "grid2" }, h("div", {}, h("p", { class: "small muted", text: "resident and virtual memory" }), mem),
            h("div", {}, h("p", { class: "small muted", text: "CPU time (user + system), cumulative" }), cpu)));
          parts.push(res.node);
          requestAnimationFrame(() => {  // one line per try and measure
            const times = t.resources.map((r) => r.time);
            const tries = [...new Set(t.resources.map((r) => r.try_id))];
            const per = (key, value, color) => tries.map((k, i) => ({
              name: tries.length > 1 ? `${key}, try ${k}` : key, color: i ? C.paletteColor(i + 2) : color,
              values: t.resources.map((r) => (r.try_id === k ? value(r) : null)),
            }));
            C.timeSeries(mem, { times, format: bytes, height: 190,
              series: per("resident", (r) => r.rss || 0, "#2b6cd4").concat(per("virtual", (r) => r.vms || 0, "#a7b0bc")) });
            C.timeSeries(cpu, { times, height: 190, format: (v) => C.compact(v) + " s",
              series: per("cpu seconds", (r) => (r.cpu_user || 0) + (r.cpu_system || 0), "#0f9d8a") });
          });
        }
        const details = card("Details");
        details.body.append(h("div", { class: "kv" }, [
          ["inputs", t.inputs], ["outputs", t.outputs], ["stdin", t.stdin], ["memoize", t.memoize], ["hashsum", t.hashsum],
          ["fail cost", t.fail_cost],
        ].flatMap(([k, v]) => [h("div", { class: "k", text: k }), h("div", { class: "v", text: v === null || v === undefined || v === "" ? "–" : String(v) })])));
        parts.push(details.node);
        main.replaceChildren(...parts);
      });
    }
    return { refresh, get live() { return view.live; } };
  }

  // --- blocks and nodes -------------------------------------------------------------------------

  function pageBlocks(run) {
    const view = { live: false, page: 1 };
    const head = h("div");
    const charts = h("div", { class: "grid2" });
    const blockStates = card("Blocks by state");
    const workers = card("Workers connected");
    charts.append(blockStates.node, workers.node);
    const blocks = card("Blocks");
    const nodes = card("Nodes");
    main.replaceChildren(head, charts, blocks.node, nodes.node);
    async function refresh() {
      await guarded(head, async () => {
        const s = await getJSON(api(run));
        view.live = s.live;
        setLive(s.live);
        head.replaceChildren(runHeader(run, s, "/blocks"));
      });
      await guarded(blocks.body, async () => {
        const d = await getJSON(api(run, `/blocks?page=${view.page}&per_page=50`));
        C.timeSeries(blockStates.body, { times: [d.start, ...d.times], stacked: true, height: 200, emptyText: "no blocks recorded",
          series: Object.entries(d.block_states).map(([name, values]) => ({ name, color: C.blockColor(name) === "#e5e7eb" ? C.stateColor(name) : darken(C.blockColor(name)), values: [0, ...values] })) });
        C.timeSeries(workers.body, { times: [d.start, ...d.times], height: 200, emptyText: "no nodes recorded",
          series: [{ name: "workers", color: "#0f766e", values: [0, ...d.workers] }] });
        blocks.note.textContent = `${num(d.blocks_total)} blocks`;
        blocks.body.replaceChildren(d.blocks.length ? table([
          { title: "Executor", render: (b) => b.executor },
          { title: "Block", render: (b) => h("b", { text: b.block_id }) },
          { title: "Job id", render: (b) => h("span", { class: "mono", text: b.job_id || "–" }) },
          { title: "State", render: (b) => b.state },
          { title: "First seen", render: (b) => when(b.first) },
          { title: "Last change", render: (b) => when(b.last) },
          { title: "History", render: (b) => b.history.map((x) => x.state).join(" → ") },
          { title: "Message", render: (b) => (b.history.filter((x) => x.message).pop() || {}).message || "" },
        ], d.blocks) : h("p", { class: "muted", text: "No blocks recorded: this run's executors have none." }),
        d.blocks_total > d.per_page ? pager(d.page, d.per_page, d.blocks_total, false, (p) => { view.page = p; refresh(); }) : "");
        nodes.note.textContent = `${num(d.nodes_total)} nodes`;
        nodes.body.replaceChildren(d.nodes.length ? table([
          { title: "Host", render: (n) => h("b", { text: n.hostname }) },
          { title: "Executor", render: (n) => n.executor },
          { title: "Block", render: (n) => n.block_id || "–" },
          { title: "Workers", num: true, render: (n) => num(n.workers) },
          { title: "CPUs", num: true, render: (n) => num(n.cpu_count) },
          { title: "Memory", num: true, render: (n) => bytes(n.memory) },
          { title: "Python", render: (n) => n.python },
          { title: "Connected", render: (n) => n.active ? "yes" : "left" },
          { title: "First seen", render: (n) => when(n.first) },
          { title: "Last change", render: (n) => when(n.last) },
        ], d.nodes) : h("p", { class: "muted", text: "No nodes recorded." }),
        d.nodes_total > d.per_page ? pager(d.page, d.per_page, d.nodes_total, false, (p) => { view.page = p; refresh(); }) : "");
      });
    }
    return { refresh, get live() { return view.live; } };
  }

  function darken(hex) {
    const n = parseInt(hex.slice(1), 16);
    const f = (v) => Math.max(0, Math.round(v * 0.78)).toString(16).padStart(2, "0");
    return "#" + f(n >> 16) + f((n >> 8) & 255) + f(n & 255);
  }

  // --- resources --------------------------------------------------------------------------------

  function pageResources(run) {
    const view = { live: false, page: 1 };
    const head = h("div");
    const apps = card("Resource use per app");
    const memory = card("Resident memory of running tasks");
    const histogram = card("Peak resident memory of tries");
    const top = card("Tries with the largest peak memory");
    main.replaceChildren(head, apps.node, h("div", { class: "grid2" }, memory.node, histogram.node), top.node);
    async function refresh() {
      let names = [];
      await guarded(head, async () => {
        const s = await getJSON(api(run));
        view.live = s.live;
        setLive(s.live);
        names = s.apps.map((a) => a.name);
        head.replaceChildren(runHeader(run, s, "/resources"));
      });
      await guarded(apps.body, async () => {
        const d = await getJSON(api(run, `/resources?page=${view.page}&per_page=20`));
        const colors = appColors(names);
        const sampleNote = d.sample.exact ? "every resource sample" : `the samples of ${num(d.sample.tasks)} of ${num(d.sample.of)} tasks (totals scaled to the run)`;
        apps.note.textContent = "from " + sampleNote;
        if (!d.apps.length) {
          apps.body.replaceChildren(h("p", { class: "muted", text: "No resource samples recorded for this run (resource monitoring off, or no try has ended yet)." }));
          memory.body.replaceChildren(); histogram.body.replaceChildren(); top.body.replaceChildren();
          return;
        }
        apps.body.replaceChildren(table([
          { title: "App", render: (a) => h("b", { text: a.name }) },
          { title: d.sample.exact ? "Tries measured" : "Tries in sample", num: true, render: (a) => num(a.tries) },
          { title: "Samples recorded", num: true, render: (a) => num(d.rows_by_app[a.name]) },
          { title: "Peak RSS mean", num: true, render: (a) => bytes(a.rss_mean) },
          { title: "Peak RSS max", num: true, render: (a) => bytes(a.rss_max) },
          { title: "CPU time total", num: true, render: (a) => duration(a.cpu_total) },
          { title: "CPU per try", num: true, render: (a) => duration(a.cpu_mean) },
          { title: "Read", num: true, render: (a) => bytes(a.read_total) },
          { title: "Written", num: true, render: (a) => bytes(a.write_total) },
        ], d.apps));
        const times = [];
        const steps = Math.max(...Object.values(d.memory.series).map((v) => v.length), 0);
        for (let i = 0; i <= steps; i++) times.push(d.memory.start + i * d.memory.step);
        memory.note.textContent = "by app: each running try at its latest sample";
        C.timeSeries(memory.body, { times, stacked: true, format: bytes, height: 220,
          series: Object.entries(d.memory.series).map(([name, values]) => ({ name, color: colors[name] || C.paletteColor(0), values: [0, ...values] })) });
        const hist = d.histogram;
        const labels = Array.from({ length: hist.bins }, (_, i) => bytes(i * hist.width));
        histogram.note.textContent = `tries by peak RSS, bins of ${bytes(hist.width)}`;
        C.bars(histogram.body, { labels, height: 220, binTitle: "from ", xTitle: "peak resident memory (bin start)",
          series: Object.entries(hist.counts).map(([name, values]) => ({ name, color: colors[name] || C.paletteColor(0), values })) });
        top.note.textContent = d.sample.exact ? "" : "among the sampled tasks";
        top.body.replaceChildren(table([
          { title: "Task", render: (r) => h("a", { href: taskUrl(run, r.task_id), class: "mono", text: "#" + r.task_id }) },
          { title: "Try", num: true, render: (r) => String(r.try_id) },
          { title: "App", render: (r) => r.app },
          { title: "Peak RSS", num: true, render: (r) => bytes(r.rss) },
          { title: "Peak virtual", num: true, render: (r) => bytes(r.vms) },
          { title: "CPU time", num: true, render: (r) => duration(r.cpu) },
          { title: "Read", num: true, render: (r) => bytes(r.read) },
          { title: "Written", num: true, render: (r) => bytes(r.write) },
          { title: "Sampled from", render: (r) => when(r.first) },
        ], d.top.items), pager(d.top.page, d.top.per_page, d.top.total, false, (p) => { view.page = p; refresh(); }));
      });
    }
    return { refresh, get live() { return view.live; } };
  }

  // --- routing and refreshing -------------------------------------------------------------------

  const ROUTES = [
    [/^\/$/, pageWorkflows],
    [/^\/workflows\/([^/]+)\/?$/, pageWorkflow],
    [/^\/workflows\/([^/]+)\/tasks\/(\d+)\/?$/, pageTask],
    [/^\/workflows\/([^/]+)\/blocks\/?$/, pageBlocks],
    [/^\/workflows\/([^/]+)\/resources\/?$/, pageResources],
  ];

  async function start() {
    let page = null;
    for (const [pattern, make] of ROUTES) {
      const match = window.location.pathname.match(pattern);
      if (match) { page = make(...match.slice(1).map(decodeURIComponent)); break; }
    }
    if (!page) {
      main.replaceChildren(h("h1", { text: "Not found" }), h("p", {}, h("a", { href: "/", text: "Back to the runs" })));
      return;
    }
    await page.refresh(false);
    document.body.dataset.ready = "1";
    let busy = false;
    setInterval(async () => {
      if (!page.live || busy || document.visibilityState !== "visible") return;
      busy = true;
      try { await page.refresh(true); } finally { busy = false; }
    }, POLL);
  }

  start();
})();
