/*
 * report.js - draws a pgvolley report page (docs/html-report.md) from the
 * JSON of the element #pv-data (type application/json), with uPlot for the
 * charts. Every text of the report goes into the page as a text node
 * (never as markup), so user SQL and server messages cannot inject any.
 * Every key is optional: older reports lack some (timeline, thresholds,
 * spectra), and a suite adds others (suite, test, diagnosis).
 */
(function () {
  'use strict';

  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b',
    '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

  /* ---- small DOM helpers ------------------------------------------------ */

  /* el('div', {class: 'x'}, child, 'text', ...): children are nodes or text. */
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) {
          e.setAttribute(k, String(attrs[k]));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      add(e, arguments[i]);
    }
    return e;
  }

  function add(parent, c) {
    if (c === null || c === undefined || c === false) {
      return;
    }
    if (Array.isArray(c)) {
      c.forEach(function (x) { add(parent, x); });
    } else if (typeof c === 'object' && c.nodeType) {
      parent.appendChild(c);
    } else {
      parent.appendChild(document.createTextNode(String(c)));
    }
  }

  function isObj(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  function arr(v) {
    return Array.isArray(v) ? v : [];
  }

  function num(v) {
    return typeof v === 'number' && isFinite(v) ? v : null;
  }

  /* numbers with about 3-4 significant digits, thousands separated */
  function fmt(v, digits) {
    v = num(v);
    if (v === null) {
      return '–';
    }
    if (v !== 0 && Math.abs(v) < 0.001) {
      return v.toExponential(2);
    }
    var d = digits !== undefined ? digits : (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 :
      Math.abs(v) >= 1 ? 2 : 3);
    return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  }

  function fmtInt(v) {
    v = num(v);
    return v === null ? '–' : Math.round(v).toLocaleString('en-US');
  }

  function fmtMs(v) {
    return num(v) === null ? '–' : fmt(v) + ' ms';
  }

  function fmtPct(v) {
    v = num(v);
    return v === null ? '–' : (v > 0 ? '+' : '') + fmt(v, 1) + ' %';
  }

  function badge(ok, yes, no) {
    return el('span', { class: 'badge ' + (ok ? 'pass' : 'fail') }, ok ? (yes || 'PASS') : (no || 'FAIL'));
  }

  function table(headers, rows, cls) {
    var thead = el('thead', null, el('tr', null, headers.map(function (h) {
      return el('th', null, h);
    })));
    var tbody = el('tbody', null, rows.map(function (r) {
      return el('tr', r.attrs || null, r.cells.map(function (c) {
        return isObj(c) && !c.nodeType ? el('td', c.attrs, c.v) : el('td', null, c);
      }));
    }));
    return el('table', { class: 'grid ' + (cls || '') }, thead, tbody);
  }

  function row(cells, attrs) {
    return { cells: cells, attrs: attrs };
  }

  function numCell(v) {
    return { v: v, attrs: { class: 'num' } };
  }

  function section(title, id, cls) {
    var s = el('section', { id: id || null, class: cls || null });
    s.appendChild(el('h2', null, title));
    return s;
  }

  function kvTable(obj, prefix, rows) {
    rows = rows || [];
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k];
      var name = prefix ? prefix + '.' + k : k;
      if (isObj(v)) {
        kvTable(v, name, rows);
      } else {
        rows.push(row([el('code', null, name),
          Array.isArray(v) ? JSON.stringify(v) : v === null ? 'null' : String(v)]));
      }
    });
    return rows;
  }

  function sqlCell(sql) {
    if (typeof sql !== 'string') {
      return '';
    }
    var short = sql.length > 120 ? sql.slice(0, 117) + '…' : sql;
    return el('code', { class: 'sql', title: sql }, short);
  }

  /* ---- charts ------------------------------------------------------------ */

  var charts = [];

  function chartWidth() {
    var app = document.getElementById('pv-app') || document.body;
    var w = app.clientWidth || 1000;
    return Math.max(320, Math.min(w - 40, 1100));
  }

  function makeChart(container, opts, data) {
    if (typeof window.uPlot !== 'function') {
      container.appendChild(el('p', { class: 'note' }, 'The charting library is not embedded in this build.'));
      return null;
    }
    opts.width = opts.width || chartWidth();
    opts.height = opts.height || 300;
    var box = el('div', { class: 'chart' });
    container.appendChild(box);
    var u = new window.uPlot(opts, data, box);
    charts.push(u);
    return u;
  }

  /* x = 1 / (1 - p/100): 0% at 1, 90% at 10, 99% at 100, ... (HdrHistogram). */
  function pctToX(p, lastX) {
    if (p >= 100) {
      return Math.max(lastX * 2, 10);
    }
    return 1 / (1 - p / 100);
  }

  function xLabel(x) {
    var p = 100 * (1 - 1 / x);
    if (p <= 0) {
      return '0%';
    }
    var s = p.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
    return s + '%';
  }

  /* Spectra [{label, spectrum: {pct, ms}}] on one chart: percentile (log x) vs latency. */
  function spectrumChart(container, title, list) {
    list = list.filter(function (s) {
      return isObj(s.spectrum) && arr(s.spectrum.pct).length > 0 &&
        arr(s.spectrum.pct).length === arr(s.spectrum.ms).length;
    });
    if (list.length === 0) {
      container.appendChild(el('p', { class: 'note' },
        'No latency spectrum: the report has no histograms (an older report), or nothing succeeded.'));
      return null;
    }
    var points = list.map(function (s) {
      var xs = [];
      var last = 1;
      s.spectrum.pct.forEach(function (p) {
        var x = pctToX(p, last);
        xs.push(x);
        last = x;
      });
      return xs;
    });
    var keys = {};
    points.forEach(function (xs) { xs.forEach(function (x) { keys[x.toPrecision(12)] = x; }); });
    var xsAll = Object.keys(keys).map(function (k) { return keys[k]; }).sort(function (a, b) { return a - b; });
    var index = {};
    xsAll.forEach(function (x, i) { index[x.toPrecision(12)] = i; });
    var data = [xsAll];
    list.forEach(function (s, si) {
      var ys = xsAll.map(function () { return null; });
      points[si].forEach(function (x, j) {
        var v = num(s.spectrum.ms[j]);
        ys[index[x.toPrecision(12)]] = v !== null && v > 0 ? v : null; /* log scale: > 0 */
      });
      data.push(ys);
    });
    /* ticks 0%, 50%, 90%, 99%, 99.9%, ... up to the scale's end */
    var splits = function (u, axisIdx, min, max) {
      var out = [];
      for (var x = 1; x <= max * 1.0001; x *= 10) {
        out.push(x);
        if (x === 1) {
          out.push(2);
        }
      }
      return out;
    };
    var series = [{ label: 'percentile', value: function (u, v) { return v === null ? '–' : xLabel(v); } }];
    list.forEach(function (s, i) {
      series.push({
        label: s.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true,
        points: { show: false }, value: function (u, v) { return fmtMs(v); }
      });
    });
    return makeChart(container, {
      title: title,
      class: 'pv-spectrum',
      scales: { x: { time: false, distr: 3, log: 10 }, y: { distr: 3, log: 10 } },
      axes: [
        { label: 'percentile', splits: splits,
          filter: function (u, vals) { return vals; },
          values: function (u, vals) { return vals.map(function (v) { return v === null ? '' : xLabel(v); }); } },
        { label: 'latency (ms, log scale)', size: 70 }
      ],
      series: series
    }, data);
  }

  /* The timeline's points, less a last one shorter than half the interval
     (it holds only the tail of what was in flight: its rate misleads). */
  function timelinePoints(run) {
    var pts = isObj(run.timeline) ? arr(run.timeline.points).filter(isObj) : [];
    var iv = isObj(run.timeline) ? num(run.timeline.interval_s) : null;
    if (pts.length > 1 && iv && num(pts[pts.length - 1].interval_s) !== null &&
        pts[pts.length - 1].interval_s < iv / 2) {
      pts = pts.slice(0, -1);
    }
    return pts;
  }

  /* ---- spectra from histograms (the dashboard's reports) ------------------ */

  /* A pvh1 histogram (report-schema.md) -> {count, min, max, buckets:
     [[index, count]...]}, or null when it does not decode. Values in ns;
     the sums are skipped (Numbers: exact enough for a chart). */
  function histDecode(text) {
    if (typeof text !== 'string' || text.indexOf('pvh1') !== 0 || text.charAt(4) !== '.') {
      return null;
    }
    var bin;
    try {
      /* atob's forgiving decode takes base64 without its padding */
      bin = atob(text.slice(5).replace(/-/g, '+').replace(/_/g, '/'));
    } catch (e) {
      return null;
    }
    var pos = 0;
    var varint = function () {
      var v = 0;
      var mul = 1;
      for (;;) {
        if (pos >= bin.length) {
          throw new Error('short');
        }
        var b = bin.charCodeAt(pos++);
        v += (b & 127) * mul;
        mul *= 128;
        if (!(b & 128)) {
          return v;
        }
      }
    };
    try {
      var h = { count: varint(), min: 0, max: 0, buckets: [] };
      if (h.count > 0) {
        h.min = varint();
        h.max = h.min + varint();
        varint(); /* sum_lo, sum_hi, shift */
        varint();
        varint();
        for (var k = 0; k < 2; k++) { /* dsum, dsum2: 0, or an exponent and a mantissa */
          if (varint() !== 0) {
            varint();
          }
        }
      }
      var n = varint();
      var idx = -1;
      for (var i = 0; i < n; i++) {
        idx += varint() + 1;
        h.buckets.push([idx, varint()]);
      }
      return h;
    } catch (e) {
      return null;
    }
  }

  /* bucket index -> its midpoint (ns), as pv_hist.c answers a percentile */
  function bucketMid(idx) {
    var band = Math.floor(idx / 1024);
    var sub = idx % 1024;
    if (band === 0) {
      return sub;
    }
    var lo = (1024 + sub) * Math.pow(2, band - 1);
    var hi = (1025 + sub) * Math.pow(2, band - 1) - 1;
    return lo + Math.floor((hi - lo) / 2);
  }

  /* The spectrum of a decoded histogram as pv_report_html.c draws it:
     tails 0.5^(k/5) while count allows, then the maximum; ms. */
  function histSpectrum(h) {
    if (!h || h.count === 0) {
      return null;
    }
    var pct = [];
    var ms = [];
    var value = function (q) {
      if (!(q > 0)) {
        return h.min;
      }
      var x = q * h.count / 100;
      x -= x * 1e-12;
      var rank = Math.max(1, Math.min(h.count, Math.ceil(x)));
      var seen = 0;
      for (var i = 0; i < h.buckets.length; i++) {
        seen += h.buckets[i][1];
        if (seen >= rank) {
          return Math.min(Math.max(bucketMid(h.buckets[i][0]), h.min), h.max);
        }
      }
      return h.max;
    };
    for (var k = 0; k < 400; k++) {
      var tail = Math.pow(0.5, k / 5);
      if (tail * h.count < 1) {
        break;
      }
      pct.push(100 * (1 - tail));
      ms.push(value(100 * (1 - tail)) / 1e6);
    }
    pct.push(100);
    ms.push(h.max / 1e6);
    return { pct: pct, ms: ms };
  }

  /* Adds "spectrum" beside every "histogram" of a latency object in doc
     (a report of the API keeps the histograms; the HTML report gets its
     spectra from pv_report_html.c instead). */
  function addSpectra(doc, depth) {
    depth = depth || 0;
    if (depth > 64 || doc === null || typeof doc !== 'object') {
      return doc;
    }
    if (!Array.isArray(doc) && typeof doc.histogram === 'string' && !isObj(doc.spectrum)) {
      var sp = histSpectrum(histDecode(doc.histogram));
      if (sp) {
        doc.spectrum = sp;
      }
    }
    Object.keys(doc).forEach(function (k) { addSpectra(doc[k], depth + 1); });
    return doc;
  }

  /* a linear y range from 0 to a little above the largest value */
  function zeroBased(u, min, max) {
    return [0, max > 0 ? max * 1.08 : 1];
  }

  /* The series of the timeline charts: [t, qps, failed/s], [t, p50, p95, p99]. */
  function timelineData(pts) {
    var t = pts.map(function (p) { return num(p.t_s); });
    var qps = pts.map(function (p) { return num(p.qps); });
    var failed = pts.map(function (p) {
      var iv = num(p.interval_s);
      return iv ? (num(p.failed) || 0) / iv : null;
    });
    var lat = function (k) {
      return pts.map(function (p) { return isObj(p.latency_ms) ? num(p.latency_ms[k]) : null; });
    };
    return { rate: [t, qps, failed], latency: [t, lat('p50'), lat('p95'), lat('p99')] };
  }

  /* The throughput and latency charts of run's timeline into container;
     returns them ([] when there is no timeline). live: the failed series is
     always drawn and an empty timeline still gets its charts (the dashboard
     feeds them with timelineUpdate as points arrive). */
  function timelineCharts(container, run, live) {
    var pts = timelinePoints(run);
    if (pts.length === 0 && !live) {
      container.appendChild(el('p', { class: 'note' }, 'No timeline in this report.'));
      return [];
    }
    var d = timelineData(pts);
    var t = d.rate[0];
    var qps = d.rate[1];
    var failed = d.rate[2];
    var anyFailed = live || failed.some(function (v) { return v; });
    var tSeries = { label: 't (s)', value: function (u, v) { return v === null ? '–' : fmt(v) + ' s'; } };
    var series = [tSeries, { label: 'throughput (qps)', stroke: COLORS[0], width: 2, fill: 'rgba(31,119,180,0.08)' }];
    var data = [t, qps];
    if (anyFailed) {
      series.push({ label: 'failed / s', stroke: COLORS[1], width: 2 });
      data.push(failed);
    }
    var xAxis = { label: 'seconds since the start' };
    var out = [];
    out.push(makeChart(container, {
      title: 'Throughput over time', class: 'pv-throughput', height: 240,
      scales: { x: { time: false }, y: { range: zeroBased } },
      axes: [xAxis, { label: 'executions / s', size: 70 }],
      series: series
    }, data));
    out.push(makeChart(container, {
      title: 'Latency over time', class: 'pv-latency', height: 240,
      scales: { x: { time: false }, y: { range: zeroBased } },
      axes: [{ label: 'seconds since the start' }, { label: 'latency (ms)', size: 70 }],
      series: [tSeries,
        { label: 'p50', stroke: COLORS[2], width: 2, value: function (u, v) { return fmtMs(v); } },
        { label: 'p95', stroke: COLORS[3], width: 2, value: function (u, v) { return fmtMs(v); } },
        { label: 'p99', stroke: COLORS[1], width: 2, value: function (u, v) { return fmtMs(v); } }]
    }, d.latency));
    return out.filter(function (u) { return u; });
  }

  /* New points for charts made by timelineCharts(container, run, true). */
  function timelineUpdate(charts, run) {
    var d = timelineData(timelinePoints(run));
    if (charts[0]) {
      charts[0].setData(d.rate);
    }
    if (charts[1]) {
      charts[1].setData(d.latency);
    }
  }

  /* ---- one run ------------------------------------------------------------ */

  var LAT_KEYS = ['min', 'avg', 'p50', 'p90', 'p95', 'p99', 'p999', 'max', 'stddev'];

  function latencyTable(groups) {
    return table(['', 'min', 'avg', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max', 'stddev'],
      groups.filter(function (g) { return isObj(g.lat); }).map(function (g) {
        return row([g.label].concat(LAT_KEYS.map(function (k) { return numCell(fmtMs(g.lat[k])); })));
      }), 'latency');
  }

  function summaryCards(sum, run) {
    var cards = [
      ['executions', fmtInt(sum.executions)],
      ['succeeded', fmtInt(sum.succeeded)],
      ['failed', fmtInt(sum.failed)],
      ['throughput', fmt(sum.qps) + ' qps'],
      ['wall time', fmt(sum.wall_s) + ' s'],
      ['avg latency', fmtMs(isObj(sum.latency_ms) ? sum.latency_ms.avg : null)],
      ['p95 latency', fmtMs(isObj(sum.latency_ms) ? sum.latency_ms.p95 : null)],
      ['p99 latency', fmtMs(isObj(sum.latency_ms) ? sum.latency_ms.p99 : null)]
    ];
    if (isObj(run.config) && num(run.config.concurrency) !== null) {
      cards.splice(3, 0, ['concurrency', fmtInt(run.config.concurrency)]);
    }
    return el('div', { class: 'cards' }, cards.map(function (c) {
      var failedCard = c[0] === 'failed' && num(sum.failed) > 0;
      return el('div', { class: 'card' + (failedCard ? ' bad' : '') },
        el('div', { class: 'card-label' }, c[0]), el('div', { class: 'card-value' }, c[1]));
    }));
  }

  function thresholdsOf(run, scope) {
    return arr(run.thresholds).filter(function (t) {
      return isObj(t) && (scope === undefined || t.scope === scope);
    });
  }

  function thresholdBadges(list) {
    if (list.length === 0) {
      return '';
    }
    return list.map(function (t) {
      return el('div', { class: 'target' }, badge(t.pass === true), ' ', String(t.expr || ''));
    });
  }

  function queriesTable(run) {
    var qs = arr(run.queries).filter(isObj);
    if (qs.length === 0) {
      return el('p', { class: 'note' }, 'No queries in this report.');
    }
    return table(['query', 'SQL', 'executions', 'failed', 'qps', 'avg', 'p50', 'p95', 'p99', 'max', 'targets'],
      qs.map(function (q) {
        var l = isObj(q.latency_ms) ? q.latency_ms : {};
        return row([String(q.name || q.file || ''), sqlCell(q.sql), numCell(fmtInt(q.executions)),
          numCell(fmtInt(q.failed)), numCell(fmt(q.qps)), numCell(fmtMs(l.avg)), numCell(fmtMs(l.p50)),
          numCell(fmtMs(l.p95)), numCell(fmtMs(l.p99)), numCell(fmtMs(l.max)),
          thresholdBadges(thresholdsOf(run, q.name))], { class: 'query-row' });
      }), 'queries');
  }

  function thresholdsTable(run) {
    var ts = thresholdsOf(run);
    if (ts.length === 0) {
      return null;
    }
    return table(['target', 'scope', 'measured', 'limit', 'result', 'source'], ts.map(function (t) {
      var unit = t.unit ? ' ' + t.unit : '';
      return row([el('code', null, String(t.expr || '')), t.scope === null || t.scope === undefined ? 'whole run' : String(t.scope),
        numCell(num(t.measured) === null ? 'nothing measured' : fmt(t.measured) + unit),
        numCell(num(t.limit) === null ? '–' : fmt(t.limit) + unit), badge(t.pass === true),
        String(t.source || '')], { class: t.pass === true ? 'pass-row' : 'fail-row' });
    }), 'thresholds');
  }

  function errorsTable(errors) {
    errors = arr(errors).filter(isObj);
    if (errors.length === 0) {
      return el('p', { class: 'note' }, 'No errors.');
    }
    return table(['SQLSTATE', 'count', 'message'], errors.map(function (e) {
      return row([el('code', null, String(e.sqlstate || '')), numCell(fmtInt(e.count)), String(e.message || '')]);
    }), 'errors');
  }

  /* The sections of one run object into container. */
  function renderRun(container, run, label) {
    var sum = isObj(run.summary) ? run.summary : {};
    var s = section('Summary' + (label ? ' — ' + label : ''), null, 'summary');
    if (run.interrupted === true) {
      s.appendChild(el('p', { class: 'warn' }, 'Interrupted: the figures are partial.'));
    }
    s.appendChild(summaryCards(sum, run));
    var groups = [{ label: 'all', lat: sum.latency_ms }];
    arr(run.queries).filter(isObj).forEach(function (q) { groups.push({ label: String(q.name || ''), lat: q.latency_ms }); });
    s.appendChild(latencyTable(groups));
    container.appendChild(s);

    if (isObj(run.diagnosis)) {
      container.appendChild(renderDiagnosis(run.diagnosis));
    }

    var th = thresholdsTable(run);
    if (th) {
      var ts = section('Targets', null, 'targets');
      ts.appendChild(th);
      container.appendChild(ts);
    }

    var qs = section('Queries', null, 'queries');
    qs.appendChild(queriesTable(run));
    container.appendChild(qs);

    var sp = section('Latency percentile spectrum', null, 'spectra');
    spectrumChart(sp, 'Latency by percentile', groups.filter(function (g) {
      return isObj(g.lat);
    }).map(function (g) { return { label: g.label, spectrum: g.lat.spectrum }; }));
    container.appendChild(sp);

    var tl = section('Over time', null, 'timeline');
    timelineCharts(tl, run);
    container.appendChild(tl);

    var es = section('Errors by SQLSTATE', null, 'errors');
    es.appendChild(errorsTable(run.errors));
    container.appendChild(es);

    var cs = section('Configuration', null, 'config');
    var rows = kvTable(run.config);
    if (isObj(run.pool)) {
      var pool = {};
      Object.keys(run.pool).forEach(function (k) {
        if (k !== 'acquire_wait_ms') {
          pool[k] = run.pool[k];
        }
      });
      rows = rows.concat(kvTable(pool, 'pool (measured)'));
      var w = run.pool.acquire_wait_ms;
      if (isObj(w)) {
        rows.push(row([el('code', null, 'pool (measured).acquire_wait'),
          'avg ' + fmtMs(w.avg) + ', p99 ' + fmtMs(w.p99) + ', max ' + fmtMs(w.max)]));
      }
    }
    cs.appendChild(rows.length ? table(['setting', 'value'], rows, 'kv') : el('p', { class: 'note' }, 'No configuration in this report.'));
    container.appendChild(cs);
  }

  /* ---- diagnosis (suite runs that missed a target) ------------------------ */

  function renderDiagnosis(d) {
    var s = section('Diagnosis', null, 'diagnosis');
    var findings = arr(d.findings);
    if (findings.length) {
      s.appendChild(el('ul', { class: 'findings' }, findings.map(function (f) {
        if (!isObj(f)) {
          return el('li', null, String(f));
        }
        return el('li', null, f.kind ? el('span', { class: 'kind' }, String(f.kind)) : null, ' ', String(f.text || ''));
      })));
    } else {
      s.appendChild(el('p', { class: 'note' }, 'No findings.'));
    }
    var notes = arr(d.notes);
    if (notes.length) {
      s.appendChild(el('h3', null, 'Notes'));
      s.appendChild(el('ul', { class: 'notes' }, notes.map(function (n) { return el('li', null, String(n)); })));
    }
    var plans = arr(d.plans).filter(isObj);
    if (plans.length) {
      s.appendChild(el('h3', null, 'Plans'));
      plans.forEach(function (p) {
        var body = typeof p.text === 'string' && p.text ? p.text :
          p.plan !== undefined && p.plan !== null ? JSON.stringify(p.plan, null, 2) : '';
        s.appendChild(el('details', { class: 'plan' },
          el('summary', null, p.analyze ? 'EXPLAIN ANALYZE ' : 'EXPLAIN ', sqlCell(p.sql)),
          p.error ? el('p', { class: 'warn' }, String(p.error)) : null,
          body ? el('pre', null, body) : null));
      });
    }
    var st = arr(d.statements).filter(isObj);
    if (st.length) {
      s.appendChild(el('h3', null, 'pg_stat_statements'));
      s.appendChild(table(['statement', 'calls', 'mean', 'stddev', 'shared blks hit', 'shared blks read'], st.map(function (x) {
        return row([sqlCell(x.sql), numCell(fmtInt(x.calls)), numCell(fmtMs(x.mean_ms)), numCell(fmtMs(x.stddev_ms)),
          numCell(fmtInt(x.shared_blks_hit)), numCell(fmtInt(x.shared_blks_read))]);
      })));
    }
    var waits = arr(d.waits).filter(isObj);
    if (waits.length || num(d.lock_waits) !== null) {
      s.appendChild(el('h3', null, 'Waits'));
      if (num(d.lock_waits) !== null) {
        s.appendChild(el('p', null, 'Lock waits seen: ' + fmtInt(d.lock_waits)));
      }
      if (waits.length) {
        s.appendChild(table(['wait event type', 'wait event', 'samples', 'share'], waits.map(function (w) {
          return row([String(w.wait_event_type || ''), String(w.wait_event || ''), numCell(fmtInt(w.samples)),
            numCell(num(w.share_pct) === null ? '–' : fmt(w.share_pct, 1) + ' %')]);
        })));
      }
    }
    var idx = arr(d.indexes).filter(isObj);
    if (idx.length) {
      s.appendChild(el('h3', null, 'Indexes'));
      s.appendChild(table(['table', 'index', 'scans', 'size'], idx.map(function (i) {
        return row([String(i.table || ''), String(i.index || ''), numCell(fmtInt(i.idx_scan)),
          numCell(num(i.size_bytes) === null ? '–' : fmtInt(i.size_bytes / 1024) + ' KiB')]);
      })));
    }
    if (isObj(d.settings) && Object.keys(d.settings).length) {
      s.appendChild(el('h3', null, 'Settings'));
      s.appendChild(table(['setting', 'value'], kvTable(d.settings), 'kv'));
    }
    return s;
  }

  /* ---- whole documents ----------------------------------------------------- */

  function header(doc, kind) {
    var h = el('header', null, el('h1', null, document.title || 'pgvolley report'));
    var t = isObj(doc.target) ? doc.target : null;
    var facts = [];
    if (t) {
      facts.push(['target', (t.user ? t.user + '@' : '') + (t.host || '') + (t.port ? ':' + t.port : '') +
        (t.dbname ? '/' + t.dbname : '')]);
      if (t.server_version) {
        facts.push(['server', 'PostgreSQL ' + t.server_version]);
      }
    }
    if (doc.started_at) {
      facts.push(['started', String(doc.started_at)]);
    }
    facts.push(['report', kind]);
    if (isObj(doc.tool)) {
      facts.push(['tool', (doc.tool.name || 'pgvolley') + ' ' + (doc.tool.version || '')]);
    }
    h.appendChild(el('dl', { class: 'facts' }, facts.map(function (f) {
      return [el('dt', null, f[0]), el('dd', null, f[1])];
    })));
    if (doc.interrupted === true) {
      h.appendChild(el('p', { class: 'warn' }, 'Interrupted (Ctrl-C or SIGTERM): the figures are partial.'));
    }
    if (typeof doc.aborted === 'string' && doc.aborted) {
      h.appendChild(el('p', { class: 'warn' }, 'Aborted: ' + doc.aborted));
    }
    return h;
  }

  function levelLabel(run, i) {
    return isObj(run.config) && num(run.config.concurrency) !== null ? 'concurrency ' + run.config.concurrency : 'run ' + (i + 1);
  }

  function renderSweep(app, doc) {
    var runs = arr(doc.runs).filter(isObj);
    var s = section('Sweep: one row per concurrency level', null, 'sweep');
    s.appendChild(table(['concurrency', 'executions', 'failed', 'qps', 'avg', 'p50', 'p95', 'p99', 'max', 'targets'],
      runs.map(function (r) {
        var sum = isObj(r.summary) ? r.summary : {};
        var l = isObj(sum.latency_ms) ? sum.latency_ms : {};
        var ts = thresholdsOf(r);
        return row([numCell(isObj(r.config) ? fmtInt(r.config.concurrency) : '–'), numCell(fmtInt(sum.executions)),
          numCell(fmtInt(sum.failed)), numCell(fmt(sum.qps)), numCell(fmtMs(l.avg)), numCell(fmtMs(l.p50)),
          numCell(fmtMs(l.p95)), numCell(fmtMs(l.p99)), numCell(fmtMs(l.max)),
          ts.length ? badge(ts.every(function (t) { return t.pass === true; })) : '']);
      }), 'sweep-table'));
    var cs = runs.map(function (r) { return isObj(r.config) ? num(r.config.concurrency) : null; });
    if (runs.length > 1 && cs.every(function (c) { return c !== null; })) {
      var sums = runs.map(function (r) { return isObj(r.summary) ? r.summary : {}; });
      var lat = function (k) { return sums.map(function (x) { return isObj(x.latency_ms) ? num(x.latency_ms[k]) : null; }); };
      makeChart(s, {
        title: 'Throughput and latency by concurrency', class: 'pv-sweep', height: 260,
        scales: { x: { time: false }, ms: {} },
        axes: [{ label: 'concurrency' }, { label: 'executions / s', size: 70 },
          { scale: 'ms', side: 1, label: 'latency (ms)', size: 70, grid: { show: false } }],
        series: [{ label: 'concurrency' }, { label: 'qps', stroke: COLORS[0], width: 2 },
          { label: 'p50 (ms)', scale: 'ms', stroke: COLORS[2], width: 2 },
          { label: 'p95 (ms)', scale: 'ms', stroke: COLORS[3], width: 2 },
          { label: 'p99 (ms)', scale: 'ms', stroke: COLORS[1], width: 2 }]
      }, [cs, sums.map(function (x) { return num(x.qps); }), lat('p50'), lat('p95'), lat('p99')]);
    }
    spectrumChart(s, 'Latency by percentile, per level', runs.map(function (r, i) {
      var sum = isObj(r.summary) ? r.summary : {};
      return { label: levelLabel(r, i), spectrum: isObj(sum.latency_ms) ? sum.latency_ms.spectrum : null };
    }));
    app.appendChild(s);
    runs.forEach(function (r, i) {
      var d = el('details', { class: 'level', open: i === runs.length - 1 ? 'open' : null },
        el('summary', null, levelLabel(r, i)));
      renderRun(d, r, levelLabel(r, i));
      app.appendChild(d);
    });
  }

  function testName(r, i) {
    return isObj(r.test) ? String((r.test.category ? r.test.category + '/' : '') + (r.test.name || 'test ' + (i + 1))) : 'test ' + (i + 1);
  }

  function testPass(r) {
    if (isObj(r.test) && typeof r.test.pass === 'boolean') {
      return r.test.pass;
    }
    var ts = thresholdsOf(r);
    return ts.length ? ts.every(function (t) { return t.pass === true; }) : null;
  }

  function renderSuite(app, doc) {
    var su = doc.suite;
    var runs = arr(doc.runs).filter(isObj);
    var s = section('Suite' + (su.name ? ': ' + su.name : ''), null, 'suite');
    var cards = [['tests', fmtInt(su.tests)], ['passed', fmtInt(su.passed)], ['failed', fmtInt(su.failed)]];
    if (isObj(su.overall)) {
      cards.push(['avg', fmtMs(su.overall.avg_ms)], ['p95', fmtMs(su.overall.p95_ms)], ['qps', fmt(su.overall.qps)],
        ['executions', fmtInt(su.overall.executions)], ['failed executions', fmtInt(su.overall.failed)]);
    }
    s.appendChild(el('div', { class: 'cards' }, cards.map(function (c) {
      return el('div', { class: 'card' + (c[0] === 'failed' && num(su.failed) > 0 ? ' bad' : '') },
        el('div', { class: 'card-label' }, c[0]), el('div', { class: 'card-value' }, c[1]));
    })));
    if (su.source) {
      s.appendChild(el('p', { class: 'note' }, 'Suite source: ' + su.source));
    }
    s.appendChild(table(['test', 'category', 'avg', 'p95', 'QPS', 'executions', 'failed', 'targets', 'result'],
      runs.map(function (r, i) {
        var sum = isObj(r.summary) ? r.summary : {};
        var l = isObj(sum.latency_ms) ? sum.latency_ms : {};
        var pass = testPass(r);
        return row([el('a', { href: '#test-' + i }, isObj(r.test) ? String(r.test.name || '') : 'test ' + (i + 1)),
          isObj(r.test) ? String(r.test.category || '') : '', numCell(fmtMs(l.avg)), numCell(fmtMs(l.p95)),
          numCell(fmt(sum.qps)), numCell(fmtInt(sum.executions)), numCell(fmtInt(sum.failed)),
          thresholdBadges(thresholdsOf(r)), pass === null ? '' : badge(pass)], { class: 'test-row' });
      }), 'suite-table'));
    var cats = arr(su.categories).filter(isObj);
    if (cats.length) {
      s.appendChild(el('h3', null, 'Categories'));
      s.appendChild(table(['category', 'tests', 'passed', 'failed', 'avg', 'p95', 'QPS'], cats.map(function (c) {
        return row([String(c.name || ''), numCell(fmtInt(c.tests)), numCell(fmtInt(c.passed)), numCell(fmtInt(c.failed)),
          numCell(fmtMs(c.avg_ms)), numCell(fmtMs(c.p95_ms)), numCell(fmt(c.qps))]);
      })));
    }
    app.appendChild(s);
    var diag = runs.filter(function (r) { return isObj(r.diagnosis) && arr(r.diagnosis.findings).length; });
    if (diag.length) {
      var f = section('Findings of the missed targets', null, 'findings-all');
      diag.forEach(function (r) {
        var i = runs.indexOf(r);
        f.appendChild(el('h3', null, el('a', { href: '#test-' + i }, testName(r, i))));
        f.appendChild(el('ul', { class: 'findings' }, arr(r.diagnosis.findings).map(function (x) {
          return el('li', null, isObj(x) ? String(x.text || '') : String(x));
        })));
      });
      app.appendChild(f);
    }
    runs.forEach(function (r, i) {
      var pass = testPass(r);
      var d = el('details', { class: 'test', id: 'test-' + i, open: pass === false ? 'open' : null },
        el('summary', null, testName(r, i), ' ', pass === null ? '' : badge(pass)));
      renderRun(d, r, testName(r, i));
      app.appendChild(d);
    });
  }

  function verdictClass(v) {
    return v === 'REGRESSION' ? 'fail' : v === 'improved' ? 'pass' : v === 'ok' ? 'ok' : 'info';
  }

  function renderCompare(app, doc) {
    var s = section('Comparison', null, 'compare');
    s.appendChild(el('dl', { class: 'facts' },
      el('dt', null, 'base'), el('dd', null, String(doc.base || '')),
      el('dt', null, 'new'), el('dd', null, String(doc['new'] || '')),
      el('dt', null, 'limit'), el('dd', null, fmt(doc.max_regression_pct, 1) + ' %'),
      el('dt', null, 'noise'), el('dd', null, String(doc.noise || 'unknown'))));
    var n = num(doc.regressions) || 0;
    s.appendChild(el('p', { class: n > 0 ? 'warn' : 'good' },
      n > 0 ? n + (n === 1 ? ' regression' : ' regressions') : 'No regression.'));
    s.appendChild(table(['concurrency', 'scope', 'metric', 'base', 'new', 'change', 'noise', 'verdict'],
      arr(doc.rows).filter(isObj).map(function (r) {
        var ms = r.metric !== 'qps';
        var f = function (v) { return ms ? fmtMs(v) : fmt(v) + ' qps'; };
        return row([numCell(fmtInt(r.concurrency)), r.scope === null || r.scope === undefined ? 'whole run' : String(r.scope),
          String(r.metric || ''), numCell(f(r.base)), numCell(f(r['new'])), numCell(fmtPct(r.change_pct)),
          numCell(num(r.noise_pct) === null ? '–' : '±' + fmt(r.noise_pct, 1) + ' %'),
          el('span', { class: 'badge ' + verdictClass(r.verdict) }, String(r.verdict || ''))], { class: 'compare-row' });
      }), 'compare-table'));
    var notes = arr(doc.notes);
    if (notes.length) {
      s.appendChild(el('ul', { class: 'notes' }, notes.map(function (x) { return el('li', null, String(x)); })));
    }
    app.appendChild(s);
    var reps = isObj(doc.reports) ? doc.reports : {};
    if (isObj(reps.base) && isObj(reps['new'])) {
      var runsOf = function (r) { return Array.isArray(r.runs) ? r.runs.filter(isObj) : [r]; };
      var a = runsOf(reps.base);
      var b = runsOf(reps['new']);
      var sp = section('Latency spectra: base and new', null, 'spectra');
      a.forEach(function (ra, i) {
        var c = isObj(ra.config) ? ra.config.concurrency : null;
        var rb = b.filter(function (x) { return isObj(x.config) && x.config.concurrency === c; })[0] || b[i];
        if (!rb) {
          return;
        }
        var spOf = function (r) { return isObj(r.summary) && isObj(r.summary.latency_ms) ? r.summary.latency_ms.spectrum : null; };
        spectrumChart(sp, 'Latency by percentile' + (c !== null && c !== undefined ? ', concurrency ' + c : ''),
          [{ label: 'base', spectrum: spOf(ra) }, { label: 'new', spectrum: spOf(rb) }]);
      });
      app.appendChild(sp);
      [['base', reps.base], ['new', reps['new']]].forEach(function (p) {
        var d = el('details', { class: 'report' }, el('summary', null, 'The ' + p[0] + ' report'));
        d.appendChild(header(p[1], 'run'));
        runsOf(p[1]).forEach(function (r, i) { renderRun(d, r, runsOf(p[1]).length > 1 ? levelLabel(r, i) : ''); });
        app.appendChild(d);
      });
    }
  }

  /* A whole document (a report, sweep, suite or comparison) into app. */
  function renderDoc(app, doc) {
    if (doc.schema === 'pgvolley.compare/1') {
      app.appendChild(header(doc, 'compare'));
      renderCompare(app, doc);
    } else if (isObj(doc.suite)) {
      app.appendChild(header(doc, 'suite'));
      renderSuite(app, doc);
    } else if (doc.sweep === true || (Array.isArray(doc.runs) && !doc.summary)) {
      app.appendChild(header(doc, 'sweep'));
      renderSweep(app, doc);
    } else {
      app.appendChild(header(doc, 'single run'));
      renderRun(app, doc, '');
    }
  }

  function main() {
    var app = document.getElementById('pv-app');
    var doc;
    try {
      doc = JSON.parse(document.getElementById('pv-data').textContent);
    } catch (e) {
      app.appendChild(el('p', { class: 'warn' }, 'The embedded report does not parse: ' + e.message));
      return;
    }
    if (!isObj(doc)) {
      app.appendChild(el('p', { class: 'warn' }, 'The embedded report is not an object.'));
      return;
    }
    renderDoc(app, doc);
    app.appendChild(el('footer', null, 'Drawn by pgvolley with uPlot; self-contained: this file needs no network access.'));
    window.pvCharts = charts; /* for tests and the curious: the uPlot instances */
    document.body.setAttribute('data-rendered', 'true');
  }

  /* The chart and report builders, shared with the dashboard of `pgvolley
     serve` (web/ui/app.js), which loads this file without a #pv-data. */
  window.pvReport = {
    el: el, fmt: fmt, fmtInt: fmtInt, fmtMs: fmtMs, fmtPct: fmtPct, table: table, row: row,
    numCell: numCell, badge: badge, verdictClass: verdictClass, makeChart: makeChart,
    zeroBased: zeroBased, COLORS: COLORS, charts: charts, renderDoc: renderDoc,
    renderRun: renderRun, renderCompare: renderCompare, spectrumChart: spectrumChart,
    timelineCharts: timelineCharts, timelineUpdate: timelineUpdate, addSpectra: addSpectra
  };

  if (document.getElementById('pv-data')) {
    main();
  }
}());
