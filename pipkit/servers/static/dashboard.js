// pipkit ui: polls /data/index.json every 2 s and redraws only the documents whose hash
// changed. Every string from package metadata goes into the DOM as text (textContent),
// never as markup; the graph SVG is drawn (and escaped) by pipkit on the server.
"use strict";
(function () {
  const POLL_MS = 2000;
  const seen = {};
  let edges = [];
  let selected = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
    }
    return node;
  }

  function setText(id, value) {
    $(id).textContent = value == null ? "" : String(value);
  }

  async function get(name, as) {
    const reply = await fetch("/data/" + name, { cache: "no-store" });
    if (!reply.ok) throw new Error(name + ": HTTP " + reply.status);
    return as === "json" ? reply.json() : reply.text();
  }

  function parseSvg(text) {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    if (root.nodeName !== "svg") throw new Error("not an SVG document");
    return document.importNode(root, true);
  }

  // -- target -------------------------------------------------------------------------
  function drawEnv(env) {
    setText("python", (env.implementation || "Python") + " " + env.python_version);
    setText("executable", env.python);
    setText("venv", env.venv ? "virtual environment" : env.externally_managed ? "system (externally managed)" : "system interpreter");
    setText("prefix", env.prefix);
    setText("platform", env.platform || "unknown");
    setText("platform-tag", env.platform_tag);
    setText("installer", env.pip ? "pip " + env.pip : "pip not installed");
    setText("packages-count", env.packages + " packages installed; pipkit changes it with " + env.installer);
    setText("headline", env.python);
  }

  // -- drift --------------------------------------------------------------------------
  function drawDrift(drift) {
    const state = $("state");
    state.textContent = drift.state;
    state.className = "badge " + drift.state.replace(/ /g, "-");
    setText("drift-lock", drift.lock ? drift.lock : "");
    setText("drift-summary", drift.summary);
    const fixAll = $("fix-all");
    fixAll.replaceChildren();
    if (drift.fix_all) fixAll.append("Fix everything: ", el("code", null, drift.fix_all));
    const body = $("drift").tBodies[0];
    const rows = drift.rows.map((row) => {
      const tr = el("tr", "row-" + row.kind,
        el("td", "name", row.name),
        el("td", "status", el("span", "tag tag-" + row.kind, row.kind)),
        el("td", "ver", row.locked == null ? "\u2014" : row.locked),
        el("td", "ver", row.installed == null ? "\u2014" : row.installed),
        el("td", "fix", el("code", null, row.fix)));
      tr.dataset.name = row.name;
      if (row.detail) tr.cells[1].append(" ", el("span", "detail", row.detail));
      return tr;
    });
    if (!rows.length) {
      const message = drift.state === "in sync" ? "nothing drifted" : drift.summary;
      const td = el("td", "empty", message);
      td.colSpan = 5;
      rows.push(el("tr", null, td));
    }
    body.replaceChildren(...rows);
    $("drift-warnings").replaceChildren(...(drift.warnings || []).map((w) => el("li", null, w)));
  }

  // -- graph --------------------------------------------------------------------------
  function subtree(key) {
    const reach = new Set([key]);
    const todo = [key];
    while (todo.length) {
      const at = todo.pop();
      for (const edge of edges) {
        if (edge.from === at && !reach.has(edge.to)) {
          reach.add(edge.to);
          todo.push(edge.to);
        }
      }
    }
    return reach;
  }

  function highlight() {
    const box = $("graph");
    const reach = selected ? subtree(selected) : null;
    box.classList.toggle("focused", !!reach);
    for (const node of box.querySelectorAll("g.node")) {
      node.classList.toggle("hl", !!reach && reach.has(node.dataset.key));
      node.classList.toggle("root", node.dataset.key === selected);
    }
    for (const path of box.querySelectorAll("path.edge")) {
      path.classList.toggle("hl", !!reach && reach.has(path.dataset.from) && reach.has(path.dataset.to));
    }
    const line = $("graph-selected");
    if (!reach) {
      line.textContent = "";
      return;
    }
    const node = box.querySelector('g.node[data-key="' + CSS.escape(selected) + '"] title');
    line.textContent = (node ? node.textContent : selected) + " \u2014 pulls in " + (reach.size - 1) + " package(s)";
  }

  function drawGraph(text) {
    const svg = parseSvg(text);
    const box = $("graph");
    box.replaceChildren(svg);
    edges = Array.from(svg.querySelectorAll("path.edge"), (p) => ({ from: p.dataset.from, to: p.dataset.to }));
    const nodes = svg.querySelectorAll("g.node");
    setText("graph-count", nodes.length + " packages");
    if (selected && !svg.querySelector('g.node[data-key="' + CSS.escape(selected) + '"]')) selected = null;
    highlight();
  }

  $("graph").addEventListener("click", (event) => {
    const node = event.target.closest && event.target.closest("g.node");
    if (!node) return;
    selected = selected === node.dataset.key ? null : node.dataset.key;
    highlight();
  });

  // -- history ------------------------------------------------------------------------
  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
  }

  function drawHistory(doc) {
    setText("store", "\u00b7 offline store: " + doc.store.wheels + " wheel(s), " + bytes(doc.store.bytes));
    const items = doc.entries.map((entry) => {
      const head = el("button", "entry-head",
        el("span", "id", "#" + entry.id),
        el("time", null, entry.time.replace("T", " ").replace("Z", " UTC")),
        el("code", "cmd", entry.command),
        el("span", "counts",
          el("span", "plus", "+" + entry.added), " ",
          el("span", "minus", "\u2212" + entry.removed), " ",
          el("span", "tilde", "~" + entry.changed)),
        el("span", "result result-" + entry.result, entry.result));
      head.type = "button";
      if (entry.outside) head.append(el("span", "tag tag-outside", "outside pipkit"));
      const diff = el("pre", "diff", entry.diff.length ? entry.diff.join("\n") : "(no change)");
      diff.hidden = true;
      head.addEventListener("click", () => { diff.hidden = !diff.hidden; });
      const li = el("li", entry.outside ? "outside" : null, head, diff);
      li.dataset.id = entry.id;
      return li;
    });
    if (!items.length) items.push(el("li", "empty", doc.error || "No history yet: pipkit has not changed this environment."));
    $("timeline").replaceChildren(...items);
  }

  // -- demo ---------------------------------------------------------------------------
  function drawDemo(doc) {
    $("demo-section").hidden = false;
    const rows = Object.entries(doc.stats || {}).map(([name, s]) =>
      el("tr", null, el("td", "name", name), el("td", null, s.requests),
        el("td", null, s.rps == null ? "\u2014" : Math.round(s.rps).toLocaleString()),
        el("td", "ver", s.p50_ms + " ms"), el("td", "ver", s.p99_ms + " ms")));
    $("demo-stats").tBodies[0].replaceChildren(...rows);
    $("demo-checks").replaceChildren(...(doc.checks || []).map((c) =>
      el("li", c.ok ? "ok" : "bad", el("span", "tag " + (c.ok ? "tag-ok" : "tag-missing"), c.ok ? "ok" : "FAIL"), " ", el("b", null, c.name), " ", c.detail)));
  }

  const draw = {
    "env.json": async () => drawEnv(await get("env.json", "json")),
    "drift.json": async () => drawDrift(await get("drift.json", "json")),
    "graph.svg": async () => drawGraph(await get("graph.svg", "text")),
    "history.json": async () => drawHistory(await get("history.json", "json")),
    "demo.json": async () => drawDemo(await get("demo.json", "json")),
    "latency.svg": async () => $("latency").replaceChildren(parseSvg(await get("latency.svg", "text"))),
  };

  async function poll() {
    try {
      const index = await get("index.json", "json");
      for (const [name, hash] of Object.entries(index.docs)) {
        if (seen[name] !== hash && draw[name]) {
          await draw[name]();
          seen[name] = hash;
        }
      }
      document.body.dataset.version = String(index.version);
      setText("updated", "live \u00b7 updated " + new Date(index.time * 1000).toLocaleTimeString());
      $("updated").classList.remove("lost");
    } catch (err) {
      setText("updated", "cannot reach pipkit ui (" + err.message + ")");
      $("updated").classList.add("lost");
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
