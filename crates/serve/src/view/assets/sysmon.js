// sysmon's dashboard and report: uPlot charts of /api/live (polled every second) and of
// /api/history (downsampled per pixel), or of the data a report file carries inline
// (window.SYSMON_REPORT). Times are drawn in the browser's time zone (uPlot's default).
'use strict';
(function () {
  const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function fmtBytes(v) {
    if (v == null || !isFinite(v)) return '-';
    let i = 0;
    let x = Math.abs(v);
    if (v === 0) return '0 B';
    while (x >= 1024 && i < IEC.length - 1) { x /= 1024; i++; }
    return (v < 0 ? '-' : '') + x.toFixed(x >= 100 || (i === 0 && x >= 10) ? 0 : 1) + ' ' + IEC[i];
  }
  function fmtNum(v, d) {
    if (v == null || !isFinite(v)) return '-';
    return v.toFixed(d);
  }
  const UNITS = {
    pct: { label: '%', fmt: (v) => fmtNum(v, 1) + ' %' },
    bytes: { label: 'bytes', fmt: fmtBytes },
    rate: { label: 'bytes/s', fmt: (v) => (v == null ? '-' : fmtBytes(v) + '/s') },
    load: { label: 'runnable tasks', fmt: (v) => fmtNum(v, 2) },
  };
  const short = (c) => c.replace(/^cpu_|^mem_|_pct$|_bytes_per_sec$|_bytes$/g, '').replace(/_bytes$/, '');
  // Each chart: where its series come from, live and recorded.
  const CHARTS = [
    { id: 'cpu', title: 'CPU by mode', unit: 'pct', stacked: true,
      cols: ['cpu_user_pct', 'cpu_nice_pct', 'cpu_system_pct', 'cpu_iowait_pct', 'cpu_irq_pct', 'cpu_softirq_pct', 'cpu_steal_pct'],
      live: (s) => pick(s.cpu, CHARTS[0].cols) },
    { id: 'cpus', title: 'Busy share of each CPU', unit: 'pct', recorded: 'cpus', cols: ['cpu_busy_pct'],
      key: (k) => 'cpu' + k,
      live: (s) => Object.fromEntries(s.cpus.map((c) => ['cpu' + c.cpu, c.cpu_busy_pct])) },
    { id: 'memory', title: 'Memory and swap', unit: 'bytes',
      cols: ['mem_used_bytes', 'mem_cached_bytes', 'mem_buffers_bytes', 'swap_used_bytes'],
      live: (s) => pick(s.memory, CHARTS[2].cols) },
    { id: 'load', title: 'Load average', unit: 'load', cols: ['load_1m', 'load_5m', 'load_15m'],
      live: (s) => pick(s.load, CHARTS[3].cols) },
    { id: 'disks', title: 'Disk throughput', unit: 'rate', recorded: 'disks', cols: ['read_bytes_per_sec', 'write_bytes_per_sec'],
      live: (s) => keyed(s.disks, 'device', CHARTS[4].cols) },
    { id: 'networks', title: 'Network throughput', unit: 'rate', recorded: 'networks', cols: ['rx_bytes_per_sec', 'tx_bytes_per_sec'],
      live: (s) => keyed(s.networks, 'interface', CHARTS[5].cols) },
    { id: 'pressure', title: 'Pressure stall (PSI)', unit: 'pct', recorded: 'pressure', cols: ['stall_pct'],
      live: (s) => Object.fromEntries(s.pressure.map((p) => [p.resource + '/' + p.kind, p.stall_pct])) },
  ];
  CHARTS.forEach((c) => { if (!c.recorded) c.recorded = 'metrics'; });
  // The live x-axis: the data's span, or, for one point (or all points at one time), ten
  // seconds around it. uPlot's own range gives one point a day in milliseconds, which for
  // times in seconds is 1000 days (April 2027 to August 2029), and passes that range here.
  const POINT_SPAN = 10;
  function xSpan(u, lo, hi) {
    const t = u.data[0] || [];
    if (t.length && t[t.length - 1] - t[0] <= 1e-3) return [t[0] - POINT_SPAN / 2, t[t.length - 1] + POINT_SPAN / 2];
    return [lo, hi];
  }
  function pick(obj, cols) {
    const out = {};
    cols.forEach((c) => { out[short(c)] = obj ? obj[c] : null; });
    return out;
  }
  function keyed(rows, key, cols) {
    const out = {};
    rows.forEach((r) => cols.forEach((c) => { out[r[key] + ' ' + short(c)] = r[c]; }));
    return out;
  }
  function label(chart, key, col) {
    const k = chart.key ? chart.key(key) : key;
    if (!k) return short(col);
    return chart.cols.length > 1 ? k + ' ' + short(col) : k;
  }
  const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const color = (i) => COLORS[i % COLORS.length];
  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }

  // A chart in a container: rebuilt when its series change, updated in place otherwise.
  window.sysmonCharts = window.sysmonCharts || {};
  class Chart {
    constructor(parent, chart, prefix) {
      this.chart = chart;
      this.name = prefix + '-' + chart.id;
      this.el = document.createElement('div');
      this.el.className = 'chart';
      this.el.id = this.name;
      this.el.dataset.points = '0';
      const h = document.createElement('h3');
      h.textContent = chart.title;
      this.el.appendChild(h);
      this.body = document.createElement('div');
      this.el.appendChild(this.body);
      parent.appendChild(this.el);
      this.labels = [];
      this.plot = null;
    }
    width() { return Math.max(300, this.el.clientWidth - 16); }
    // data: [t, ...series], labels: one per series; extra: per series, [min, max] arrays or
    // null; xRange: [from, to] in seconds (history: the range asked for), or auto (live).
    set(t, labels, series, extra, xRange) {
      const u = UNITS[this.chart.unit];
      let data = series;
      if (this.chart.stacked) {
        data = [];
        let acc = t.map(() => 0);
        series.forEach((s) => { acc = acc.map((a, i) => a + (s[i] || 0)); data.push(acc.slice()); });
      }
      const points = series.reduce((n, s) => n + s.filter((v) => v != null).length, 0);
      this.el.dataset.points = String(points);
      this.raw = series;
      this.extra = extra;
      if (!t.length || !labels.length) {
        if (this.plot) { this.plot.destroy(); this.plot = null; delete window.sysmonCharts[this.name]; }
        this.body.innerHTML = '<div class="empty">no data</div>';
        this.labels = [];
        return;
      }
      const all = [t].concat(data);
      const same = this.xRange === (xRange ? xRange.join() : undefined);
      if (this.plot && same && labels.join('\n') === this.labels.join('\n')) {
        this.plot.setData(all);
        return;
      }
      this.xRange = xRange ? xRange.join() : undefined;
      if (this.plot) this.plot.destroy();
      this.body.innerHTML = '';
      this.labels = labels.slice();
      const self = this;
      const opts = {
        width: this.width(),
        height: 220,
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true, range: xRange ? () => xRange : xSpan }, y: { range: (uu, lo, hi) => [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1] } },
        axes: [
          {},
          { label: u.label, size: 90, values: (uu, vals) => vals.map((v) => u.fmt(v)) },
        ],
        series: [{}].concat(labels.map((l, i) => ({
          label: l,
          stroke: color(i),
          width: 1.5,
          fill: self.chart.stacked ? alpha(color(i), 0.35) : undefined,
          value: (uu, v, si, di) => {
            if (di == null) return '-';
            const raw = self.raw[si - 1] ? self.raw[si - 1][di] : v;
            const ex = self.extra && self.extra[si - 1];
            if (ex && ex[0][di] != null && ex[0][di] !== ex[1][di]) {
              return u.fmt(raw) + ' (' + u.fmt(ex[0][di]) + ' – ' + u.fmt(ex[1][di]) + ')';
            }
            return u.fmt(raw);
          },
        }))),
      };
      if (this.chart.stacked) {
        opts.bands = labels.slice(1).map((_, i) => ({ series: [i + 2, i + 1] }));
      }
      this.plot = new uPlot(opts, all, this.body);
      window.sysmonCharts[this.name] = this.plot;
    }
    resize() { if (this.plot) this.plot.setSize({ width: this.width(), height: 220 }); }
  }

  // Recorded history (from /api/history, or inline in a report) drawn into `charts`.
  function drawHistory(charts, tables) {
    charts.forEach((c) => {
      const h = tables[c.chart.recorded];
      if (!h) { c.set([], [], []); return; }
      const labels = [];
      const series = [];
      const extra = [];
      const wanted = c.chart.cols;
      const chosen = h.series.filter((s) => wanted.includes(s.column));
      chosen.forEach((s) => {
        labels.push(label(c.chart, s.key, s.column));
        series.push(s.avg);
        extra.push([s.min, s.max]);
      });
      c.set(h.t, labels, series, extra, [h.from_ms / 1000, h.to_ms / 1000]);
    });
  }

  function makeCharts(parent, prefix) {
    const charts = CHARTS.map((c) => new Chart(parent, c, prefix));
    window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
    return charts;
  }

  // ---- the report: data inline, nothing fetched ----
  if (window.SYSMON_REPORT) {
    const r = window.SYSMON_REPORT;
    document.getElementById('host').textContent = r.host;
    document.getElementById('status').textContent =
      new Date(r.since_ms).toLocaleString() + ' – ' + new Date(r.until_ms).toLocaleString() +
      ' (' + r.rows_read + ' rows read, downsampled to ' + r.width + ' points per chart)';
    const charts = makeCharts(document.getElementById('history-charts'), 'history');
    drawHistory(charts, r.tables);
    return;
  }

  // ---- the dashboard ----
  const token = new URLSearchParams(location.search).get('token');
  function api(path, params) {
    const q = new URLSearchParams(params || {});
    if (token) q.set('token', token);
    const s = q.toString();
    return fetch(path + (s ? '?' + s : ''), { cache: 'no-store' }).then((r) =>
      r.json().then((j) => { if (!r.ok) throw new Error(j.error || r.statusText); return j; }));
  }
  const status = document.getElementById('status');
  const KEEP = 300;
  const liveCharts = makeCharts(document.getElementById('live-charts'), 'live');
  const liveT = [];
  const liveVals = liveCharts.map(() => ({}));
  let updates = 0;
  function topTable(el, rows) {
    const head = '<tr><th>pid</th><th>name</th><th>user</th><th>CPU</th><th>RSS</th><th>memory</th></tr>';
    el.innerHTML = head;
    rows.forEach((p) => {
      const tr = document.createElement('tr');
      [p.pid, p.name, p.user || '', UNITS.pct.fmt(p.cpu_pct), fmtBytes(p.rss_bytes), UNITS.pct.fmt(p.mem_pct)]
        .forEach((v) => { const td = document.createElement('td'); td.textContent = String(v); tr.appendChild(td); });
      el.appendChild(tr);
    });
  }
  // The running alerts' pending and firing instances (alert_metrics), firing first.
  function alertsTable(rows) {
    const sec = document.getElementById('alerts');
    const el = document.getElementById('alerts-table');
    rows = rows || [];
    sec.hidden = rows.length === 0;
    if (!rows.length) return;
    const firing = rows.filter((a) => a.state === 'firing').length;
    document.getElementById('alerts-note').textContent = firing + ' firing, ' + (rows.length - firing) + ' pending';
    el.innerHTML = '<tr><th>alert</th><th>state</th><th>severity</th><th>labels</th><th>value</th><th>since</th><th>summary</th></tr>';
    rows.slice().sort((a, b) => (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1)).forEach((a) => {
      const tr = document.createElement('tr');
      tr.className = 'alert-' + a.state;
      const labels = Object.keys(a.labels).map((k) => k + '=' + a.labels[k]).join(', ');
      [a.alertname, a.state, a.severity || '', labels, a.value == null ? '' : String(a.value),
        new Date(a.active_since_ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z', a.summary || '']
        .forEach((v) => { const td = document.createElement('td'); td.textContent = String(v); tr.appendChild(td); });
      el.appendChild(tr);
    });
  }
  function onLive(s) {
    alertsTable(s.alerts);
    document.getElementById('host').textContent = s.hostname;
    liveT.push(s.ts_ms / 1000);
    const drop = Math.max(0, liveT.length - KEEP);
    liveCharts.forEach((c, i) => {
      const vals = liveVals[i];
      const now = c.chart.live(s);
      Object.keys(now).forEach((k) => { if (!vals[k]) vals[k] = new Array(liveT.length - 1).fill(null); });
      Object.keys(vals).forEach((k) => {
        vals[k].push(k in now ? now[k] : null);
        vals[k].splice(0, drop);
        if (vals[k].every((v) => v == null)) delete vals[k];
      });
    });
    liveT.splice(0, drop);
    liveCharts.forEach((c, i) => {
      const vals = liveVals[i];
      const labels = Object.keys(vals);
      c.set(liveT.slice(), labels, labels.map((k) => vals[k].slice()));
    });
    topTable(document.getElementById('top-cpu'), s.top_cpu);
    topTable(document.getElementById('top-mem'), s.top_mem);
    updates++;
    document.body.dataset.liveUpdates = String(updates);
    document.getElementById('live-note').textContent =
      'updated ' + new Date(s.ts_ms).toLocaleTimeString() + ', CPU over the last ' + s.window_seconds.toFixed(2) + ' s';
    status.textContent = '';
  }
  let polling = false;
  function poll() {
    if (polling) return;
    polling = true;
    api('/api/live').then(onLive, (e) => { status.textContent = 'live: ' + e.message; })
      .finally(() => { polling = false; });
  }
  poll();
  setInterval(poll, 1000);

  // History, when the server has recordings.
  const form = document.getElementById('history-form');
  const hostSel = document.getElementById('history-host');
  const fromIn = document.getElementById('history-from');
  const toIn = document.getElementById('history-to');
  const note = document.getElementById('history-note');
  let histCharts = null;
  let hosts = [];
  const local = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000); return d.toISOString().slice(0, 19); };
  // `fit`: a recording shorter than the range is shown from its first row (a 90 s recording
  // fills the charts instead of being a sliver at the right edge of an hour).
  function setRange(seconds, fit) {
    const h = hosts.find((x) => x.host === hostSel.value);
    const to = Math.min(Date.now(), h && h.last_ms ? h.last_ms + 1000 : Date.now());
    const from = fit && h && h.first_ms ? Math.max(to - seconds * 1000, h.first_ms) : to - seconds * 1000;
    fromIn.value = local(Math.min(from, to - 1000));
    toIn.value = local(to);
    form.querySelectorAll('.ranges button').forEach((b) => b.classList.toggle('active', Number(b.dataset.range) === seconds));
  }
  function show() {
    const from = new Date(fromIn.value).getTime();
    const to = new Date(toIn.value).getTime();
    if (!(from < to)) { note.textContent = 'From must be before To'; return; }
    const width = histCharts[0].width();
    const started = performance.now();
    const tables = {};
    const names = Array.from(new Set(CHARTS.map((c) => c.recorded)));
    note.textContent = 'loading...';
    Promise.all(names.map((t) => api('/api/history', { table: t, host: hostSel.value, from, to, width })
      .then((j) => { tables[t] = j; }, (e) => { if (!/no recording/.test(e.message)) throw e; })))
      .then(() => {
        drawHistory(histCharts, tables);
        const rows = Object.values(tables).reduce((n, j) => n + j.rows_read, 0);
        note.textContent = rows + ' rows read in ' + Math.round(performance.now() - started) + ' ms';
        document.body.dataset.historyLoads = String(Number(document.body.dataset.historyLoads || 0) + 1);
      }, (e) => { note.textContent = 'history: ' + e.message; });
  }
  api('/api/hosts').then((j) => {
    hosts = j.hosts;
    if (!hosts.length) return;
    document.getElementById('history').hidden = false;
    hosts.forEach((h) => { const o = document.createElement('option'); o.value = o.textContent = h.host; hostSel.appendChild(o); });
    histCharts = makeCharts(document.getElementById('history-charts'), 'history');
    form.querySelectorAll('.ranges button').forEach((b) =>
      b.addEventListener('click', () => { setRange(Number(b.dataset.range)); show(); }));
    hostSel.addEventListener('change', () => { setRange(3600, true); show(); });
    form.addEventListener('submit', (e) => { e.preventDefault(); show(); });
    setRange(3600, true);
    show();
  }, (e) => { status.textContent = 'hosts: ' + e.message; });
})();
