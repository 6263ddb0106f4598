// guard dashboard. Every string from the audit trail is attacker-controlled: it is only ever
// inserted with textContent / createTextNode, never as HTML.
"use strict";

(function () {
  const LEVELS = ["ok", "nudge", "flag", "escalate", "block"];
  const COLORS = { ok: "#3fb950", nudge: "#8ab4f8", flag: "#d29922", escalate: "#db6d28", block: "#f85149" };
  const FEED_LIMIT = 300;
  const BUCKETS = 30;

  const state = {
    epoch: null,
    events: new Map(), // seq -> event
    order: [], // seqs, oldest first
    counts: { ok: 0, nudge: 0, flag: 0, escalate: 0, block: 0 },
    dropped: 0,
    detectors: new Map(),
    customerOfSession: new Map(),
    trust: new Map(), // customer -> [{ts, trust}]
    tickets: new Map(), // ticket -> decision event
    resolved: new Map(), // ticket -> approval event
    lastSeq: 0,
  };

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function str(v) {
    return typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
  }

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function level(ev) {
    const i = str(ev.intervention);
    return LEVELS.includes(i) ? i : null;
  }

  function fmtTime(ms) {
    const n = num(ms);
    if (n === null) return "";
    const d = new Date(n);
    return isNaN(d.getTime()) ? "" : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function reset() {
    state.events.clear();
    state.order = [];
    for (const l of LEVELS) state.counts[l] = 0;
    state.dropped = 0;
    state.detectors.clear();
    state.customerOfSession.clear();
    state.trust.clear();
    state.tickets.clear();
    state.resolved.clear();
    state.lastSeq = 0;
  }

  function add(ev) {
    if (!ev || typeof ev !== "object") return;
    const seq = num(ev.seq);
    if (seq === null || state.events.has(seq)) return;
    state.events.set(seq, ev);
    state.order.push(seq);
    state.lastSeq = Math.max(state.lastSeq, seq);
    const lv = level(ev);
    if (lv && (ev.kind === "verdict" || ev.kind === "decision")) state.counts[lv] += 1;
    if (ev.kind === "dropped") state.dropped += num(ev.dropped) || 0;
    if (Array.isArray(ev.signals)) {
      for (const s of ev.signals) {
        if (!s || typeof s !== "object") continue;
        const d = str(s.detector) || "?";
        state.detectors.set(d, (state.detectors.get(d) || 0) + 1);
      }
    }
    if (ev.kind === "decision") {
      if (ev.session && ev.customer) state.customerOfSession.set(str(ev.session), str(ev.customer));
      const t = num(ev.trust);
      if (ev.customer && t !== null) {
        const c = str(ev.customer);
        if (!state.trust.has(c)) state.trust.set(c, []);
        state.trust.get(c).push({ ts: num(ev.ts_ms), trust: t, seq: seq });
      }
      if (ev.ticket && lv === "escalate") state.tickets.set(str(ev.ticket), ev);
    }
    if (ev.kind === "approval" && ev.ticket) state.resolved.set(str(ev.ticket), ev);
    scheduleRender();
  }

  let pending = false;
  function scheduleRender() {
    if (pending) return;
    pending = true;
    setTimeout(function () {
      pending = false;
      render();
    }, 60);
  }

  function render() {
    renderCounts();
    renderTimeline();
    renderDetectors();
    renderTickets();
    renderFeed();
    renderDetail();
  }

  function renderCounts() {
    const box = document.getElementById("counts");
    const items = LEVELS.map(function (l) {
      const c = el("div", "count " + l);
      c.appendChild(el("span", "n", state.counts[l]));
      c.appendChild(el("span", "l", l));
      return c;
    });
    const d = el("div", "count dropped");
    d.appendChild(el("span", "n", state.dropped));
    d.appendChild(el("span", "l", "dropped (queue full)"));
    items.push(d);
    box.replaceChildren.apply(box, items);
    const legend = document.getElementById("legend");
    legend.replaceChildren.apply(
      legend,
      LEVELS.map(function (l) {
        return el("span", l, l);
      }),
    );
  }

  // Events per minute of event time, stacked by intervention, for the last BUCKETS minutes.
  function renderTimeline() {
    const canvas = document.getElementById("timeline");
    const ctx = canvas.getContext && canvas.getContext("2d");
    if (!ctx) return;
    const W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    let latest = 0;
    for (const seq of state.order) latest = Math.max(latest, num(state.events.get(seq).ts_ms) || 0);
    if (!latest) return;
    const end = Math.floor(latest / 60000);
    const buckets = [];
    for (let i = 0; i < BUCKETS; i++) buckets.push({ ok: 0, nudge: 0, flag: 0, escalate: 0, block: 0 });
    for (const seq of state.order) {
      const ev = state.events.get(seq);
      const lv = level(ev);
      const ts = num(ev.ts_ms);
      if (!lv || ts === null) continue;
      const idx = BUCKETS - 1 - (end - Math.floor(ts / 60000));
      if (idx >= 0 && idx < BUCKETS) buckets[idx][lv] += 1;
    }
    let max = 1;
    for (const b of buckets) max = Math.max(max, LEVELS.reduce((s, l) => s + b[l], 0));
    const bw = W / BUCKETS;
    ctx.strokeStyle = "#2a333d";
    ctx.beginPath();
    ctx.moveTo(0, H - 0.5);
    ctx.lineTo(W, H - 0.5);
    ctx.stroke();
    buckets.forEach(function (b, i) {
      let y = H - 14;
      for (const l of LEVELS) {
        const h = (b[l] / max) * (H - 24);
        if (h <= 0) continue;
        ctx.fillStyle = COLORS[l];
        ctx.fillRect(i * bw + 2, y - h, bw - 4, h);
        y -= h;
      }
    });
    ctx.fillStyle = "#8593a3";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText("-" + BUCKETS + " min", 2, H - 2);
    ctx.fillText("max " + max + "/min", W / 2 - 30, 11);
    const label = "latest " + fmtTime(latest);
    ctx.fillText(label, W - ctx.measureText(label).width - 2, H - 2);
  }

  function renderDetectors() {
    const list = document.getElementById("detectors");
    const rows = Array.from(state.detectors.entries()).sort((a, b) => b[1] - a[1]);
    const max = rows.length ? rows[0][1] : 1;
    list.replaceChildren.apply(
      list,
      rows.slice(0, 12).map(function (r) {
        const li = el("li");
        li.appendChild(el("span", "tag", r[0]));
        const bar = el("div", "bar");
        bar.style.width = Math.max(2, Math.round((r[1] / max) * 100)) + "%";
        li.appendChild(bar);
        li.appendChild(el("span", "", r[1]));
        return li;
      }),
    );
    if (!rows.length) list.appendChild(el("li", "muted", "no signals yet"));
  }

  function renderTickets() {
    const list = document.getElementById("tickets");
    const open = Array.from(state.tickets.entries()).filter((t) => !state.resolved.has(t[0]));
    list.replaceChildren.apply(
      list,
      open.slice(-50).reverse().map(function (t) {
        const ev = t[1];
        const li = el("li");
        const a = el("a");
        a.href = "#event=" + encodeURIComponent(String(ev.seq));
        const row = el("div", "row");
        row.appendChild(el("span", "badge escalate", "ticket"));
        row.appendChild(el("span", "", t[0]));
        row.appendChild(el("span", "tag", str(ev.tool)));
        row.appendChild(el("span", "time", fmtTime(ev.ts_ms)));
        a.appendChild(row);
        const codes = Array.isArray(ev.reasons) ? ev.reasons.map((r) => str(r && r.code)).join(", ") : "";
        a.appendChild(el("span", "snippet muted", codes));
        li.appendChild(a);
        return li;
      }),
    );
    if (!open.length) list.appendChild(el("li", "muted", "no open tickets"));
  }

  function summary(ev) {
    if (ev.kind === "verdict") return str(ev.text);
    if (ev.kind === "decision") {
      const r = Array.isArray(ev.reasons) && ev.reasons[0];
      return str(ev.tool) + (r ? " — " + str(r.message) : "");
    }
    if (ev.kind === "dropped") return num(ev.dropped) + " OK/NUDGE events dropped: the audit queue was full";
    return "";
  }

  function interesting(ev) {
    const lv = level(ev);
    return ev.kind === "dropped" || lv === "block" || lv === "escalate";
  }

  function selectedSeq() {
    const m = /(?:^#|&)event=(\d+)/.exec(location.hash);
    return m ? Number(m[1]) : null;
  }

  function renderFeed() {
    const list = document.getElementById("feed");
    const sel = selectedSeq();
    const items = [];
    // Newest event time first (a replayed or late-flushed file may arrive out of order).
    const picked = [];
    for (let i = state.order.length - 1; i >= 0 && picked.length < FEED_LIMIT * 4; i--) {
      const ev = state.events.get(state.order[i]);
      if (interesting(ev)) picked.push(ev);
    }
    picked.sort((a, b) => (num(b.ts_ms) || 0) - (num(a.ts_ms) || 0) || b.seq - a.seq);
    for (const ev of picked.slice(0, FEED_LIMIT)) {
      const li = el("li", "feed-item" + (ev.seq === sel ? " selected" : ""));
      li.dataset.seq = String(ev.seq);
      li.dataset.kind = str(ev.kind);
      const a = el("a");
      a.href = "#event=" + encodeURIComponent(String(ev.seq));
      const row = el("div", "row");
      const lv = level(ev) || "dropped";
      row.appendChild(el("span", "badge " + lv, lv));
      if (ev.mode === "shadow") row.appendChild(el("span", "badge shadow", "shadow"));
      row.appendChild(el("span", "tag", ev.kind === "verdict" ? "message" : str(ev.kind)));
      const risk = num(ev.risk);
      if (risk !== null) row.appendChild(el("span", "tag", "risk " + risk.toFixed(2)));
      row.appendChild(el("span", "time", fmtTime(ev.ts_ms)));
      a.appendChild(row);
      a.appendChild(el("span", "snippet", summary(ev)));
      li.appendChild(a);
      items.push(li);
    }
    list.replaceChildren.apply(list, items);
    if (!items.length) list.appendChild(el("li", "muted", "no blocked attacks or escalations yet"));
  }

  // Byte offsets (UTF-8, half-open) to highlighted text, without ever parsing it as HTML.
  function highlighted(text, spans) {
    const box = el("div", "message");
    box.id = "detail-text";
    const bytes = new TextEncoder().encode(text);
    const dec = new TextDecoder("utf-8");
    const ranges = spans
      .map((s) => [Math.max(0, Math.min(bytes.length, s.start)), Math.max(0, Math.min(bytes.length, s.end)), s])
      .filter((r) => r[0] < r[1])
      .sort((a, b) => a[0] - b[0]);
    const merged = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) {
        last[1] = Math.max(last[1], r[1]);
        last[2].push(r[2]);
      } else merged.push([r[0], r[1], [r[2]]]);
    }
    let pos = 0;
    for (const m of merged) {
      if (m[0] > pos) box.appendChild(document.createTextNode(dec.decode(bytes.subarray(pos, m[0]))));
      const mark = el("mark", "span", dec.decode(bytes.subarray(m[0], m[1])));
      mark.title = m[2].map((s) => s.detector + "/" + s.rule).join(", ");
      box.appendChild(mark);
      pos = m[1];
    }
    if (pos < bytes.length) box.appendChild(document.createTextNode(dec.decode(bytes.subarray(pos))));
    return box;
  }

  function table(headers, rows) {
    const t = el("table");
    const tr = el("tr");
    for (const h of headers) tr.appendChild(el("th", "", h));
    t.appendChild(tr);
    for (const r of rows) {
      const row = el("tr");
      for (const c of r) row.appendChild(el("td", "", c));
      t.appendChild(row);
    }
    return t;
  }

  function renderDetail() {
    const box = document.getElementById("detail");
    const seq = selectedSeq();
    const ev = seq === null ? null : state.events.get(seq);
    if (!ev) {
      box.replaceChildren(el("p", "muted", seq === null ? "Select an event in the feed." : "Event " + seq + " is not loaded."));
      return;
    }
    const parts = [];
    const head = el("div", "row");
    const lv = level(ev) || str(ev.kind);
    head.appendChild(el("span", "badge " + lv, lv));
    head.appendChild(el("strong", "", ev.kind === "verdict" ? "message scan" : str(ev.kind)));
    head.appendChild(el("span", "time", fmtTime(ev.ts_ms)));
    parts.push(head);

    const kv = el("dl", "kv");
    function item(k, v) {
      if (v === undefined || v === null || v === "") return;
      kv.appendChild(el("dt", "", k));
      kv.appendChild(el("dd", "", v));
    }
    item("event", "#" + ev.seq);
    item("agent", str(ev.agent));
    item("tool", str(ev.tool));
    item("call", str(ev.call_id));
    item("customer", str(ev.customer || state.customerOfSession.get(str(ev.session)) || ""));
    item("session", str(ev.session));
    item("source", str(ev.source));
    if (num(ev.risk) !== null) item("risk", ev.risk.toFixed(3));
    if (num(ev.trust) !== null) item("trust", ev.trust.toFixed(3));
    item("mode", str(ev.mode) + (ev.would_block ? " (would block)" : ev.would_escalate ? " (would escalate)" : ""));
    item("ticket", str(ev.ticket));
    if (num(ev.latency_ns) !== null) item("latency", (ev.latency_ns / 1000).toFixed(1) + " µs");
    item("blueprint", str(ev.blueprint));
    parts.push(kv);

    if (typeof ev.text === "string") {
      parts.push(el("h3", "", "Message" + (ev.text_redacted ? " (identifiers masked)" : "") + (ev.text_truncated ? " (truncated)" : "")));
      const spans = (Array.isArray(ev.signals) ? ev.signals : [])
        .filter((s) => s && s.span && num(s.span.start) !== null && num(s.span.end) !== null)
        .map((s) => ({ start: s.span.start, end: s.span.end, detector: str(s.detector), rule: str(s.rule) }));
      parts.push(highlighted(ev.text, spans));
    }
    if (Array.isArray(ev.signals) && ev.signals.length) {
      parts.push(el("h3", "", "Signals"));
      parts.push(
        table(
          ["detector", "rule", "score", "span"],
          ev.signals.map((s) => [
            str(s && s.detector),
            str(s && s.rule),
            num(s && s.score) !== null ? s.score.toFixed(3) : "",
            s && s.span ? str(s.span.start) + "–" + str(s.span.end) : "",
          ]),
        ),
      );
    }
    if (Array.isArray(ev.reasons) && ev.reasons.length) {
      parts.push(el("h3", "", "Reasons"));
      parts.push(table(["code", "level", "message"], ev.reasons.map((r) => [str(r && r.code), str(r && r.intervention), str(r && r.message)])));
    }
    if (ev.params && typeof ev.params === "object") {
      parts.push(el("h3", "", "Parameters"));
      parts.push(table(["name", "value"], Object.keys(ev.params).map((k) => [k, typeof ev.params[k] === "string" ? ev.params[k] : JSON.stringify(ev.params[k])])));
    }
    if (typeof ev.reasoning === "string") {
      parts.push(el("h3", "", "Agent reasoning"));
      parts.push(el("div", "message", ev.reasoning));
    }
    const customer = str(ev.customer || state.customerOfSession.get(str(ev.session)) || "");
    const history = customer ? state.trust.get(customer) || [] : [];
    if (history.length) {
      parts.push(el("h3", "", "Trust history of " + customer));
      const bars = el("div", "trust");
      for (const h of history.slice(-40)) {
        const b = el("div", "t");
        b.style.height = Math.max(3, Math.round(h.trust * 100)) + "%";
        b.title = fmtTime(h.ts) + " trust " + h.trust.toFixed(2);
        bars.appendChild(b);
      }
      parts.push(bars);
      parts.push(el("p", "muted", history.map((h) => h.trust.toFixed(2)).slice(-12).join(" → ")));
    }
    if (ev.ticket) {
      const res = state.resolved.get(str(ev.ticket));
      const a = res && res.approval;
      parts.push(el("h3", "", "Approval"));
      parts.push(el("p", "", a ? str(a.action) + (a.by ? " by " + str(a.by) : "") + (a.why ? ": " + str(a.why) : "") : "open"));
    }
    box.replaceChildren.apply(box, parts);
  }

  function setStatus(text, cls) {
    const s = document.getElementById("status");
    s.textContent = text;
    s.className = "status " + (cls || "");
  }

  function connect() {
    if (!window.EventSource) {
      setStatus("this browser cannot follow live events", "down");
      return;
    }
    const source = new EventSource("/api/stream");
    source.addEventListener("hello", function (e) {
      let hello = {};
      try {
        hello = JSON.parse(e.data);
      } catch (_) {}
      if (state.epoch !== null && hello.epoch !== state.epoch) {
        // The server restarted: its numbering starts over, so reconnect without Last-Event-ID.
        source.close();
        reset();
        state.epoch = null;
        connect();
        return;
      }
      state.epoch = hello.epoch;
      setStatus("live", "live");
      scheduleRender();
    });
    source.addEventListener("lagged", function () {
      // Fell behind the server's buffer: start over from its backlog.
      source.close();
      reset();
      state.epoch = null;
      connect();
    });
    source.onmessage = function (e) {
      try {
        add(JSON.parse(e.data));
      } catch (_) {}
      setStatus("live · " + state.order.length + " events", "live");
    };
    source.onerror = function () {
      setStatus("disconnected, retrying…", "down");
    };
  }

  window.addEventListener("hashchange", function () {
    renderFeed();
    renderDetail();
  });
  document.addEventListener("DOMContentLoaded", function () {
    render();
    connect();
  });
})();
