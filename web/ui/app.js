/*
 * app.js - the dashboard of `pgvolley serve` (docs/serve-ui.md): a new-run
 * form, a live run view, the history, a run's report and a comparison of
 * two runs, on the HTTP API only (docs/serve.md). The charts and report
 * sections are the HTML report's (web/report/report.js, window.pvReport).
 * Views are chosen by the URL's fragment (#/new, #/runs, #/runs/ID,
 * #/compare?base=A&new=B); every request is relative, so the page also works
 * under a reverse proxy's prefix. Texts go into the page as text nodes only.
 */
(function () {
  'use strict';

  var R = window.pvReport;
  var el = R.el;
  var app = document.getElementById('pv-app');
  var STATES = ['queued', 'running', 'finished', 'failed', 'cancelled', 'interrupted'];
  var ACTIVE = { queued: true, running: true };
  var HISTORY_REFRESH_MS = 3000; /* the history asks again this often while visible */

  /* what the current view holds open: closed when the view changes */
  var view = { es: null, timer: null, gen: 0, refresh: null };

  /* ---- helpers ------------------------------------------------------------ */

  function announce(text) {
    var s = document.getElementById('pv-status');
    s.textContent = '';
    s.textContent = text;
  }

  /* fetch path (relative to the page) -> {status, body (parsed JSON or null)} */
  function api(path, opts) {
    opts = opts || {};
    var init = { method: opts.method || 'GET', headers: { Accept: 'application/json' } };
    if (opts.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    return fetch(path, init).then(function (r) {
      if (r.status === 401 && !opts.noSignIn) {
        /* the server has a token: sign in, then ask again */
        return signIn().then(function () { return api(path, opts); });
      }
      return r.text().then(function (t) {
        var body = null;
        try {
          body = t ? JSON.parse(t) : null;
        } catch (e) {
          body = null;
        }
        return { status: r.status, body: body };
      });
    });
  }

  /* ---- signing in (a server with --token-file) ---------------------------- */

  var signing = null; /* the sign-in under way: every 401 waits for it */
  var signins = 0;

  /* Shows the sign-in dialog until the server takes the token (POST
     api/login sets the session's cookie). @return a promise, resolved once
     signed in. */
  function signIn() {
    if (!signing) {
      signing = new Promise(function (resolve) { showSignIn(resolve); }).then(function () {
        signing = null;
        signins++;
        sessionStorage.setItem('pv-signed-in', '1');
        document.getElementById('b-logout').hidden = false;
      });
    }
    return signing;
  }

  function showSignIn(done) {
    var tok = input('password', { autocomplete: 'current-password', required: 'required', spellcheck: 'false' });
    var go = el('button', { type: 'submit', id: 'b-login' }, 'Sign in');
    var tokField = field('login-token', 'Access token', tok);
    var err = tokField.querySelector('.field-error');
    err.setAttribute('role', 'alert');
    var f = el('form', { id: 'login-form', method: 'dialog' },
      el('h2', { id: 'login-title' }, 'Sign in'),
      el('p', { id: 'login-hint' }, 'This server needs its access token: the first line of the file given to ' +
        'pgvolley serve --token-file. Signing in keeps a session (a cookie) until you sign out, ' +
        'the server restarts or 12 hours pass without use.'),
      tokField, el('div', { class: 'actions' }, go));
    var dlg = el('dialog', { id: 'pv-login', 'aria-labelledby': 'login-title', 'aria-describedby': 'login-hint' }, f);
    /* Escape would close the dialog with the requests still waiting for it */
    dlg.addEventListener('cancel', function (e) { e.preventDefault(); });
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      err.textContent = '';
      tok.removeAttribute('aria-invalid');
      if (!tok.value) {
        err.textContent = 'Type the token.';
        tok.setAttribute('aria-invalid', 'true');
        tok.focus();
        return;
      }
      go.disabled = true;
      api('api/login', { method: 'POST', body: { token: tok.value }, noSignIn: true }).then(function (res) {
        go.disabled = false;
        if (res.status === 204) {
          dlg.close();
          dlg.remove();
          announce('Signed in');
          done();
          return;
        }
        err.textContent = res.status === 401 ? 'Wrong token.' : res.status === 429
          ? 'Too many wrong tokens: wait a second and try again.' : errorText(res);
        tok.setAttribute('aria-invalid', 'true');
        tok.select();
        tok.focus();
      }, function () {
        go.disabled = false;
        err.textContent = 'The server cannot be reached.';
      });
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    tok.focus();
    document.body.setAttribute('data-signin', 'shown');
  }

  function signOut() {
    api('api/logout', { method: 'POST', noSignIn: true }).then(function () {
      document.getElementById('b-logout').hidden = true;
      announce('Signed out');
      route();
    });
  }

  function errorText(res) {
    if (res.body && res.body.error && res.body.error.message) {
      return String(res.body.error.message);
    }
    return 'HTTP ' + res.status;
  }

  function when(epoch) {
    if (typeof epoch !== 'number') {
      return '–';
    }
    return new Date(epoch * 1000).toLocaleString();
  }

  function stateBadge(state) {
    return el('span', { class: 'badge state ' + state }, String(state || ''));
  }

  function heading(text) {
    var h = el('h1', { tabindex: '-1' }, text);
    app.appendChild(h);
    return h;
  }

  function field(id, label, input, hint) {
    var errId = id + '-error';
    var hintId = hint ? id + '-hint' : null;
    input.id = id;
    input.setAttribute('aria-describedby', (hintId ? hintId + ' ' : '') + errId);
    return el('div', { class: 'field' }, el('label', { for: id }, label), input,
      hint ? el('p', { class: 'hint', id: hintId }, hint) : null,
      el('p', { class: 'field-error', id: errId }));
  }

  function input(type, attrs) {
    var a = attrs || {};
    a.type = type;
    return el('input', a);
  }

  /* Leaves the current view: its stream closed, its timer stopped, its
     charts destroyed. */
  function leave() {
    view.gen++;
    if (view.es) {
      view.es.close();
      view.es = null;
    }
    if (view.timer) {
      clearInterval(view.timer);
      view.timer = null;
    }
    view.refresh = null;
    R.charts.forEach(function (u) { u.destroy(); });
    R.charts.length = 0;
    app.textContent = '';
    document.body.removeAttribute('data-view');
    document.body.removeAttribute('data-route');
  }

  /* The view is drawn: body[data-view] names it, body[data-route] is the
     address it was drawn for (for tests and the curious). */
  function ready(name) {
    document.body.setAttribute('data-route', location.hash);
    document.body.setAttribute('data-view', name);
  }

  /* ---- the new-run form ----------------------------------------------------- */

  /* a query on the sample data of `pgvolley init` (the ephemeral target) */
  var SAMPLE_SQL = '-- PARAMETERS: [[1], [2], [3]]\n' +
    'SELECT id, name, status FROM pgvolley_agents WHERE tenant_id = $1;\n';

  var form = { uploads: [], targets: [] };

  function poolRule(c) {
    return { size: Math.max(1, Math.floor(c / 4)), overflow: c };
  }

  function maxConcurrency() {
    var sel = document.getElementById('f-target');
    var t = form.targets.filter(function (x) { return sel && x.name === sel.value; })[0];
    return t && t.max_concurrency ? t.max_concurrency : 1000;
  }

  function levelsOf(text) {
    return String(text).split(',').map(function (x) { return x.trim(); }).filter(function (x) {
      return x !== '';
    }).map(Number);
  }

  function updatePoolHint() {
    var lv = levelsOf(document.getElementById('f-concurrency').value);
    var c = lv.length ? lv[lv.length - 1] : 10;
    var hint = document.getElementById('pool-hint');
    if (!isFinite(c) || c < 1) {
      hint.textContent = 'The seed\'s rule: pool size max(1, c/4), overflow c, timeout 30 s, recycle 3600 s.';
      return;
    }
    var p = poolRule(c);
    hint.textContent = 'Empty fields take the seed\'s rule: for concurrency ' + c + ', pool size ' +
      p.size + ' (max(1, c/4)), overflow ' + p.overflow + ' (c), timeout 30 s, recycle 3600 s' +
      (lv.length > 1 ? ' (each level of a sweep gets its own).' : '.');
    document.getElementById('f-pool_size').placeholder = String(p.size);
    document.getElementById('f-max_overflow').placeholder = String(p.overflow);
    document.getElementById('f-concurrency').setAttribute('aria-valuemax', String(maxConcurrency()));
    document.getElementById('f-concurrency-hint').textContent = 'Concurrent executions, 1 to ' +
      maxConcurrency() + ' (the target\'s limit); a sweep as a list: 1,10,50.';
  }

  function clearErrors() {
    [].forEach.call(app.querySelectorAll('.field-error'), function (p) { p.textContent = ''; });
    [].forEach.call(app.querySelectorAll('[aria-invalid]'), function (x) { x.removeAttribute('aria-invalid'); });
  }

  /* Shows message next to the field it is about (a file's line and column:
     the workload; an option's name: that option), else above the buttons. */
  function showError(message) {
    var key = 'form';
    var m = /^([^:\s]+\.sql):(\d+):(\d+):/.exec(message);
    var keys = ['pool_size', 'max_overflow', 'pool_timeout', 'pool_recycle', 'exec_count', 'duration',
      'warmup', 'rate', 'arrival', 'max_lag', 'stages', 'ramp_up', 'threshold', 'protocol',
      'command_timeout', 'retries', 'seed', 'interval', 'concurrency', 'target', 'name'];
    if (m || /workload|file/i.test(message.split(':')[0])) {
      key = 'workload';
    } else {
      for (var i = 0; i < keys.length; i++) {
        var opt = keys[i].replace(/_/g, '-');
        if (message.indexOf('--' + opt) >= 0 || message.indexOf(keys[i]) === 0 ||
            new RegExp('\\b' + keys[i] + '\\b').test(message.split(':')[0])) {
          key = keys[i];
          break;
        }
      }
      if (key === 'form' && /concurrency/.test(message)) {
        key = 'concurrency';
      }
    }
    var err = document.getElementById('f-' + key + '-error') || document.getElementById('f-form-error');
    err.textContent = message;
    var inp = document.getElementById('f-' + key);
    if (inp) {
      inp.setAttribute('aria-invalid', 'true');
      inp.focus();
    } else {
      err.setAttribute('tabindex', '-1');
      err.focus();
    }
    announce('Error: ' + message);
  }

  function val(key) {
    var x = document.getElementById('f-' + key);
    return x ? String(x.value).trim() : '';
  }

  /* the body of POST /api/runs and /api/preview from the form */
  function requestBody() {
    var b = { target: val('target') };
    if (val('name')) {
      b.name = val('name');
    }
    var files = form.uploads.slice();
    var sql = document.getElementById('f-sql').value;
    if (sql.trim()) {
      files.push({ name: val('sql_name') || 'workload.sql', content: sql });
    }
    if (files.length) {
      b.files = files;
    }
    var picked = [].filter.call(app.querySelectorAll('input[name="server-file"]'), function (x) {
      return x.checked;
    }).map(function (x) { return x.value; });
    if (picked.length) {
      b.workload_files = picked;
    }
    b.concurrency = val('concurrency') || '10';
    var byTime = document.getElementById('f-mode-duration').checked;
    if (byTime && val('duration')) {
      b.duration = val('duration');
    }
    if (!byTime && val('exec_count')) {
      b.exec_count = val('exec_count');
    }
    ['warmup', 'pool_size', 'max_overflow', 'pool_timeout', 'pool_recycle', 'rate', 'max_lag',
      'stages', 'ramp_up', 'command_timeout', 'retries', 'seed', 'interval'].forEach(function (k) {
      if (val(k)) {
        b[k] = val(k);
      }
    });
    if (val('arrival')) {
      b.arrival = val('arrival');
    }
    if (val('protocol')) {
      b.protocol = val('protocol');
    }
    var th = document.getElementById('f-threshold').value.split('\n').map(function (x) {
      return x.trim();
    }).filter(function (x) { return x; });
    if (th.length) {
      b.threshold = th;
    }
    return b;
  }

  function renderPreview(box, p) {
    box.textContent = '';
    box.appendChild(el('h2', null, 'Preview'));
    var per = p.executions_per_level;
    box.appendChild(el('p', null, p.time_based ? 'Time-based: runs for the duration.'
      : 'Executions per level: ' + R.fmtInt(per) + '.'));
    var rows = [];
    (p.queries || []).forEach(function (q) {
      var sc = (q.scenarios || []).map(function (s) {
        return el('li', null, String(s.name) + ': ' + R.fmtInt(s.exec_count) + ' × ' +
          (s.params === null || s.params === undefined ? '(values drawn per execution)'
            : s.params.length ? JSON.stringify(s.params) : 'no parameters'));
      });
      rows.push(R.row([String(q.file || ''), el('code', { class: 'sql' }, String(q.sql || '')),
        R.numCell(R.fmtInt(q.exec_count)), R.numCell(R.fmt(q.weight)),
        el('ul', { class: 'scenarios' }, sc)], { class: 'preview-query' }));
    });
    box.appendChild(R.table(['file', 'query', 'executions', 'weight', 'scenarios'], rows, 'preview'));
    box.appendChild(R.table(['concurrency', 'threads', 'pool size', 'overflow', 'pool timeout', 'recycle',
      'duration', 'rate', 'protocol'], (p.levels || []).map(function (l) {
      var pool = l.pool || {};
      return R.row([R.numCell(l.concurrency), R.numCell(l.threads), R.numCell(pool.size),
        R.numCell(pool.max_overflow), R.numCell(R.fmt(pool.timeout_s) + ' s'), R.numCell(R.fmt(pool.recycle_s) + ' s'),
        R.numCell(l.duration_s ? R.fmt(l.duration_s) + ' s' : '–'), R.numCell(l.rate ? R.fmt(l.rate) + '/s' : '–'),
        String(l.protocol || '')], { class: 'preview-level' });
    }), 'levels'));
  }

  function submit(preview) {
    clearErrors();
    var box = document.getElementById('preview');
    var gen = view.gen;
    var body = requestBody();
    return api(preview ? 'api/preview' : 'api/runs', { method: 'POST', body: body }).then(function (res) {
      if (gen !== view.gen) {
        return;
      }
      if (res.status >= 400) {
        showError(errorText(res));
        return;
      }
      if (preview) {
        renderPreview(box, res.body);
        announce('Preview ready');
      } else {
        location.hash = '#/runs/' + res.body.id;
      }
    });
  }

  function addUploads(fileList) {
    var list = [].slice.call(fileList);
    return Promise.all(list.map(function (f) {
      return f.text().then(function (t) { return { name: f.name, content: t }; });
    })).then(function (got) {
      got.forEach(function (g) {
        form.uploads = form.uploads.filter(function (u) { return u.name !== g.name; });
        form.uploads.push(g);
      });
      drawUploads();
    });
  }

  function drawUploads() {
    var ul = document.getElementById('uploads');
    ul.textContent = '';
    form.uploads.forEach(function (u, i) {
      var b = el('button', { type: 'button', class: 'secondary' }, 'Remove');
      b.setAttribute('aria-label', 'Remove ' + u.name);
      b.addEventListener('click', function () {
        form.uploads.splice(i, 1);
        drawUploads();
      });
      ul.appendChild(el('li', null, el('code', null, u.name), ' ' + R.fmtInt(u.content.length) + ' bytes', b));
    });
  }

  function workloadFieldset(serverFiles) {
    var fs = el('fieldset', { class: 'wide' }, el('legend', null, 'Workload: query scenarios'));
    var up = input('file', { accept: '.sql,text/plain', multiple: 'multiple' });
    up.addEventListener('change', function () { addUploads(up.files); });
    fs.appendChild(field('f-upload', 'Upload .sql files', up,
      'Each file: one or more queries with their directives (EXEC_COUNT, PARAMETERS, TARGET...).'));
    fs.appendChild(el('ul', { class: 'files', id: 'uploads', 'aria-label': 'Uploaded files' }));
    var ta = el('textarea', { rows: 5, spellcheck: 'false' });
    ta.value = SAMPLE_SQL;
    var row = el('div', { class: 'row2' },
      field('f-sql', 'Or type a workload', ta, 'Sent as an uploaded file; leave empty to use files only.'),
      field('f-sql_name', 'File name of the typed workload', input('text', { value: 'workload.sql' })));
    fs.appendChild(row);
    var files = serverFiles && serverFiles.files ? serverFiles.files : [];
    var srv = el('div', { class: 'server-files', role: 'group', 'aria-labelledby': 'srv-label' },
      el('p', { class: 'label', id: 'srv-label' }, 'Files on the server (--workload-dir)'));
    if (!serverFiles || !serverFiles.workload_dir) {
      srv.appendChild(el('p', { class: 'hint' }, 'The server has no --workload-dir.'));
    } else if (files.length === 0) {
      srv.appendChild(el('p', { class: 'hint' }, 'The workload directory has no .sql file.'));
    }
    files.forEach(function (f, i) {
      var cb = input('checkbox', { name: 'server-file', value: f.name, id: 'srv-' + i });
      srv.appendChild(el('div', { class: 'field inline' }, cb,
        el('label', { for: 'srv-' + i }, f.name + ' (' + R.fmtInt(f.size) + ' bytes)')));
    });
    fs.appendChild(srv);
    fs.appendChild(el('p', { class: 'field-error', id: 'f-workload-error', role: 'alert' }));
    return fs;
  }

  /* The form set from a run's request (its config: the body of POST /api/runs). */
  function prefill(cfg) {
    var set = function (k, v) {
      var x = document.getElementById('f-' + k);
      if (x && v !== undefined && v !== null) {
        x.value = Array.isArray(v) ? v.join(k === 'threshold' ? '\n' : ',') : String(v);
      }
    };
    Object.keys(cfg).forEach(function (k) {
      if (['files', 'workload_files', 'duration', 'exec_count', 'separate_begin', 'abort_on_fail'].indexOf(k) < 0) {
        set(k.replace(/-/g, '_'), cfg[k]);
      }
    });
    form.uploads = Array.isArray(cfg.files) ? cfg.files.slice() : [];
    document.getElementById('f-sql').value = '';
    drawUploads();
    var wanted = (Array.isArray(cfg.workload_files) ? cfg.workload_files : []).map(function (w) {
      return String(w).split('@')[0];
    });
    [].forEach.call(app.querySelectorAll('input[name="server-file"]'), function (x) {
      x.checked = wanted.indexOf(x.value) >= 0;
    });
    var byTime = cfg.duration !== undefined && cfg.duration !== null;
    document.getElementById(byTime ? 'f-mode-duration' : 'f-mode-count').checked = true;
    document.getElementById(byTime ? 'f-mode-duration' : 'f-mode-count').dispatchEvent(new Event('change'));
    set('duration', cfg.duration);
    set('exec_count', cfg.exec_count);
    updatePoolHint();
    announce('The form holds the settings of the run');
  }

  function viewNew() {
    var gen = view.gen;
    heading('New run');
    Promise.all([api('api/targets'), api('api/workload-files')]).then(function (got) {
      if (gen !== view.gen) {
        return;
      }
      form.targets = got[0].body && got[0].body.targets ? got[0].body.targets : [];
      form.uploads = [];
      drawForm(got[1].status === 200 ? got[1].body : null);
      if (form.prefill) {
        prefill(form.prefill);
        form.prefill = null;
      }
      ready('new');
    });
  }

  function drawForm(serverFiles) {
    var f = el('form', { class: 'run-form', novalidate: 'novalidate', 'aria-label': 'New run' });
    var tsel = el('select', null, form.targets.map(function (t) {
      return el('option', { value: t.name }, t.name + (t.description ? ' — ' + t.description : '') +
        ' (up to ' + t.max_concurrency + ')');
    }));
    var general = el('fieldset', null, el('legend', null, 'Run'),
      field('f-target', 'Target', tsel, 'Configured on the server; the connection string never reaches the browser.'),
      field('f-name', 'Name (optional)', input('text', { maxlength: 200, placeholder: 'e.g. after the index' })),
      field('f-concurrency', 'Concurrency', input('text', { value: '10', inputmode: 'numeric', 'aria-valuemin': '1' }),
        'Concurrent executions, 1 to the target\'s limit; a sweep as a list: 1,10,50.'));
    var mode = el('fieldset', null, el('legend', null, 'How long'),
      el('div', { class: 'field inline' }, input('radio', { name: 'mode', id: 'f-mode-count', checked: 'checked' }),
        el('label', { for: 'f-mode-count' }, 'By counts (EXEC_COUNT of the files, or this)')),
      el('div', { class: 'field inline' }, input('radio', { name: 'mode', id: 'f-mode-duration' }),
        el('label', { for: 'f-mode-duration' }, 'For a duration')),
      el('div', { class: 'row2' },
        field('f-exec_count', 'Executions per query', input('number', { min: 1, placeholder: '5' })),
        field('f-duration', 'Duration (s)', input('number', { min: 0.1, step: 'any', value: '10' }))),
      field('f-warmup', 'Warm-up (s)', input('number', { min: 0, step: 'any', placeholder: '0' })));
    var pool = el('fieldset', null, el('legend', null, 'Connection pool'),
      el('p', { class: 'hint', id: 'pool-hint' }),
      el('div', { class: 'row2' },
        field('f-pool_size', 'Pool size', input('number', { min: 1 })),
        field('f-max_overflow', 'Max overflow', input('number', { min: 0 })),
        field('f-pool_timeout', 'Pool timeout (s)', input('number', { min: 0, step: 'any', placeholder: '30' })),
        field('f-pool_recycle', 'Recycle after (s)', input('number', { min: 0, step: 'any', placeholder: '3600' }))));
    var arrival = el('select', null, el('option', { value: '' }, 'poisson (default)'), el('option', { value: 'uniform' }, 'uniform'));
    var load = el('fieldset', null, el('legend', null, 'Rate and stages'),
      el('div', { class: 'row2' },
        field('f-rate', 'Rate (executions/s)', input('number', { min: 0, step: 'any', placeholder: 'closed model' }),
          'Empty: as fast as the concurrency allows.'),
        field('f-arrival', 'Arrivals', arrival),
        field('f-max_lag', 'Max lag (s)', input('number', { min: 0, step: 'any' })),
        field('f-ramp_up', 'Ramp-up (s)', input('number', { min: 0, step: 'any' }))),
      field('f-stages', 'Stages', input('text', { placeholder: '30s:100,2m:100,30s:0' }),
        'Ramp the rate (or in-flight executions) linearly between points; their total is the duration.'));
    var proto = el('select', null, el('option', { value: '' }, 'prepared (default)'),
      el('option', { value: 'extended' }, 'extended'), el('option', { value: 'simple' }, 'simple'));
    var more = el('fieldset', null, el('legend', null, 'Thresholds and more'),
      field('f-threshold', 'Thresholds, one a line', el('textarea', { rows: 3, placeholder: 'p95 < 50ms\nerror_rate < 0.1%' }),
        'The run fails when one is missed (as pgvolley run --threshold).'),
      el('div', { class: 'row2' },
        field('f-protocol', 'Protocol', proto),
        field('f-command_timeout', 'Command timeout (s)', input('number', { min: 0, step: 'any' })),
        field('f-retries', 'Retries', input('number', { min: 0 })),
        field('f-seed', 'Seed', input('number', { min: 0 })),
        field('f-interval', 'Timeline interval (s)', input('number', { min: 0.1, step: 'any', placeholder: '1' }))));
    f.appendChild(workloadFieldset(serverFiles));
    [general, mode, pool, load, more].forEach(function (x) { f.appendChild(x); });
    var pv = el('button', { type: 'button', class: 'secondary', id: 'b-preview' }, 'Preview');
    var go = el('button', { type: 'submit', id: 'b-start' }, 'Start run');
    f.appendChild(el('div', { class: 'actions' }, pv, go, el('p', { class: 'field-error', id: 'f-form-error', role: 'alert' })));
    f.appendChild(el('section', { id: 'preview', class: 'wide', 'aria-live': 'polite' }));
    pv.addEventListener('click', function () { submit(true); });
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      go.disabled = true;
      submit(false).then(function () { go.disabled = false; }, function () { go.disabled = false; });
    });
    app.appendChild(f);
    document.getElementById('f-concurrency').addEventListener('input', updatePoolHint);
    tsel.addEventListener('change', updatePoolHint);
    var syncMode = function () {
      var byTime = document.getElementById('f-mode-duration').checked;
      document.getElementById('f-duration').disabled = !byTime;
      document.getElementById('f-exec_count').disabled = byTime;
    };
    document.getElementById('f-mode-duration').addEventListener('change', syncMode);
    document.getElementById('f-mode-count').addEventListener('change', syncMode);
    syncMode();
    updatePoolHint();
  }

  /* ---- one run: live, then its report ------------------------------------ */

  function runFacts(run) {
    var sum = run.summary || {};
    return el('dl', { class: 'facts' },
      el('dt', null, 'state'), el('dd', { id: 'run-state' }, stateBadge(run.state),
        run.queue_position ? ' (position ' + run.queue_position + ' in the queue)' : '',
        run.message ? ' ' + run.message : ''),
      el('dt', null, 'target'), el('dd', null, String(run.target || '')),
      el('dt', null, 'created'), el('dd', null, when(run.created_at)),
      el('dt', null, 'started'), el('dd', null, when(run.started_at)),
      el('dt', null, 'finished'), el('dd', null, when(run.finished_at)),
      el('dt', null, 'exit code'), el('dd', null, run.exit_code === null || run.exit_code === undefined ? '–' : String(run.exit_code)),
      sum.executions !== undefined ? [el('dt', null, 'executions'), el('dd', null, R.fmtInt(sum.executions))] : null);
  }

  function card(label, id) {
    return el('div', { class: 'card' }, el('div', { class: 'card-label' }, label),
      el('div', { class: 'card-value', id: id }, '–'));
  }

  function viewRun(id) {
    var gen = view.gen;
    var h = heading('Run ' + id);
    api('api/runs/' + id + '?view=run').then(function (res) {
      if (gen !== view.gen) {
        return;
      }
      if (res.status !== 200) {
        app.appendChild(el('p', { class: 'warn' }, errorText(res)));
        ready('run');
        return;
      }
      var run = res.body;
      h.textContent = 'Run ' + id + (run.name ? ': ' + run.name : '');
      if (ACTIVE[run.state]) {
        live(id, run);
      } else {
        ended(id, run);
      }
    });
  }

  function runToolbar(id, run) {
    var bar = el('div', { class: 'toolbar' });
    if (run.config) {
      var again = el('button', { type: 'button', class: 'secondary', id: 'b-again' }, 'New run from this');
      again.addEventListener('click', function () {
        form.prefill = run.config;
        location.hash = '#/new';
      });
      bar.appendChild(again);
    }
    if (ACTIVE[run.state]) {
      var cancel = el('button', { type: 'button', class: 'danger', id: 'b-cancel' }, 'Cancel run');
      cancel.addEventListener('click', function () {
        cancel.disabled = true;
        api('api/runs/' + id + '/cancel', { method: 'POST' }).then(function (r) {
          announce(r.status < 300 ? 'Cancelling run ' + id : errorText(r));
        });
      });
      bar.appendChild(cancel);
    } else {
      if (run.summary) {
        bar.appendChild(el('a', { class: 'button secondary', href: 'api/runs/' + id + '/report.html', target: '_blank', rel: 'noopener' }, 'HTML report'));
        bar.appendChild(el('a', { class: 'button secondary', href: 'api/runs/' + id + '?view=report', target: '_blank', rel: 'noopener' }, 'JSON report'));
        bar.appendChild(el('a', { class: 'button secondary', href: '#/compare?new=' + id }, 'Compare with…'));
      }
      var del = el('button', { type: 'button', class: 'secondary' }, 'Delete');
      del.addEventListener('click', function () {
        if (!window.confirm('Delete run ' + id + ' from the history?')) {
          return;
        }
        api('api/runs/' + id, { method: 'DELETE' }).then(function (r) {
          if (r.status === 204) {
            location.hash = '#/runs';
          } else {
            announce(errorText(r));
          }
        });
      });
      bar.appendChild(del);
    }
    return bar;
  }

  function live(id, run) {
    var gen = view.gen;
    var factsBox = el('div', null, runFacts(run));
    app.appendChild(factsBox);
    app.appendChild(runToolbar(id, run));
    app.appendChild(el('div', { class: 'cards live-cards' },
      card('elapsed', 'l-elapsed'), card('done', 'l-done'), card('failed', 'l-failed'),
      card('in flight', 'l-inflight'), card('pool open / in use', 'l-pool'), card('waiting for a connection', 'l-waiting')));
    var sec = el('section', { class: 'live', id: 'live', 'data-points': '0', 'aria-label': 'Live charts' },
      el('h2', null, 'Live'));
    app.appendChild(sec);
    var grid = el('div', { class: 'charts-grid' });
    sec.appendChild(grid);
    var width = Math.max(320, Math.min(((app.clientWidth || 1000) - 56) / 2, 1100));
    var tl = { timeline: { points: [], interval_s: null } };
    var made = R.timelineCharts(grid, tl, true);
    made.forEach(function (u) { u.setSize({ width: width, height: 220 }); });
    var prog = { t: [], inflight: [], open: [], inuse: [], waiting: [] };
    var poolChart = R.makeChart(grid, {
      title: 'In flight and pool use', class: 'pv-pool', width: width, height: 220,
      scales: { x: { time: false }, y: { range: R.zeroBased } },
      axes: [{ label: 'seconds since the start' }, { label: 'count', size: 60 }],
      series: [{ label: 't (s)' },
        { label: 'in flight', stroke: R.COLORS[0], width: 2 },
        { label: 'pool open', stroke: R.COLORS[2], width: 2 },
        { label: 'pool in use', stroke: R.COLORS[3], width: 2 },
        { label: 'waiting', stroke: R.COLORS[1], width: 2 }]
    }, [[], [], [], [], []]);
    var dirty = false;
    var total = 0; /* points received, every level */
    var setText = function (k, v) {
      var x = document.getElementById(k);
      if (x) {
        x.textContent = v;
      }
    };
    var es = new EventSource('api/runs/' + id + '/events');
    view.es = es;
    /* a sweep's levels each start their clock at 0: the charts show the
       level running now, and start again at the next one */
    var level = { points: null, progress: null };
    var levelNote = el('p', { class: 'note', id: 'live-level' });
    sec.insertBefore(levelNote, grid);
    es.addEventListener('point', function (e) {
      var p = JSON.parse(e.data);
      if (level.points !== null && p.concurrency !== level.points) {
        tl.timeline.points = [];
      }
      level.points = p.concurrency;
      if (tl.timeline.interval_s === null && typeof p.interval_s === 'number') {
        tl.timeline.interval_s = p.interval_s;
      }
      tl.timeline.points.push(p);
      total++;
      dirty = true;
    });
    es.addEventListener('progress', function (e) {
      var p = JSON.parse(e.data);
      if (level.progress !== null && p.concurrency !== level.progress) {
        Object.keys(prog).forEach(function (k) { prog[k] = []; });
      }
      level.progress = p.concurrency;
      setText('live-level', 'Concurrency ' + p.concurrency + (p.warming_up ? ', warming up' : '') +
        (p.connecting ? ', ' + p.connecting + ' connecting' : ''));
      setText('l-elapsed', R.fmt(p.elapsed_s, 1) + ' s');
      setText('l-done', R.fmtInt(p.done) + (p.total ? ' / ' + R.fmtInt(p.total) : ''));
      setText('l-failed', R.fmtInt(p.failed));
      setText('l-inflight', R.fmtInt(p.in_flight));
      setText('l-pool', R.fmtInt(p.pool_open) + ' / ' + R.fmtInt(p.pool_in_use));
      setText('l-waiting', R.fmtInt(p.pool_waiting));
      prog.t.push(p.elapsed_s);
      prog.inflight.push(p.in_flight);
      prog.open.push(p.pool_open);
      prog.inuse.push(p.pool_in_use);
      prog.waiting.push(p.pool_waiting);
      dirty = true;
    });
    es.addEventListener('state', function (e) {
      var r = JSON.parse(e.data);
      factsBox.textContent = '';
      factsBox.appendChild(runFacts(r));
      announce('Run ' + id + ' is ' + r.state);
    });
    var finish = function () {
      if (gen !== view.gen) {
        return;
      }
      es.close();
      view.es = null;
      announce('Run ' + id + ' has ended');
      /* the report replaces the live view */
      leave();
      viewRun(id);
    };
    es.addEventListener('summary', finish);
    es.addEventListener('end', finish);
    es.addEventListener('error', function () {
      if (es.readyState !== EventSource.CLOSED || gen !== view.gen) {
        return; /* the browser reconnects by itself */
      }
      /* refused (a session that expired: 401): sign in and follow it again */
      var before = signins;
      api('api/runs/' + id + '?view=run').then(function () {
        if (gen === view.gen && signins !== before) {
          route();
        } else if (gen === view.gen) {
          setText('live-level', 'The live stream was lost: reload the page to follow the run again.');
        }
      });
    });
    view.timer = setInterval(function () {
      if (!dirty) {
        return;
      }
      dirty = false;
      R.timelineUpdate(made, tl);
      if (poolChart) {
        poolChart.setData([prog.t, prog.inflight, prog.open, prog.inuse, prog.waiting]);
      }
      sec.setAttribute('data-points', String(total));
    }, 1000);
    ready('live');
  }

  function ended(id, run) {
    var gen = view.gen;
    app.appendChild(runFacts(run));
    app.appendChild(runToolbar(id, run));
    if (!run.summary) {
      app.appendChild(el('p', { class: 'note' }, 'This run has no report.'));
      ready('run');
      return;
    }
    api('api/runs/' + id + '?view=report').then(function (res) {
      if (gen !== view.gen) {
        return;
      }
      var box = el('div', { class: 'report', id: 'report' });
      app.appendChild(box);
      if (res.status !== 200) {
        box.appendChild(el('p', { class: 'warn' }, errorText(res)));
      } else {
        R.renderDoc(box, R.addSpectra(res.body));
        /* the report's own title is the page's heading here */
        var h1 = box.querySelector('header h1');
        if (h1) {
          h1.replaceWith(el('h2', null, 'Report'));
        }
      }
      ready('report');
    });
  }

  /* ---- the history ------------------------------------------------------------ */

  function query(params) {
    var q = Object.keys(params).filter(function (k) {
      return params[k] !== '' && params[k] !== null && params[k] !== undefined;
    }).map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]); });
    return q.length ? '?' + q.join('&') : '';
  }

  function hashParams() {
    var h = location.hash;
    var i = h.indexOf('?');
    var out = {};
    if (i >= 0) {
      h.slice(i + 1).split('&').forEach(function (kv) {
        var p = kv.split('=');
        if (p[0]) {
          out[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || '');
        }
      });
    }
    return out;
  }

  function viewRuns() {
    var gen = view.gen;
    var hp = hashParams();
    heading('History');
    var stateSel = el('select', null, el('option', { value: '' }, 'any'), STATES.map(function (s) {
      return el('option', { value: s }, s);
    }));
    stateSel.value = hp.state || '';
    var targetIn = input('text', { value: hp.target || '', placeholder: 'exact name' });
    var nameIn = input('text', { value: hp.name || '', placeholder: 'part of the name' });
    var f = el('form', { class: 'filters', 'aria-label': 'Filters' },
      field('h-state', 'State', stateSel), field('h-target', 'Target', targetIn), field('h-name', 'Name', nameIn),
      el('div', { class: 'field' }, el('button', { type: 'submit' }, 'Filter')));
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      location.hash = '#/runs' + query({ state: stateSel.value, target: targetIn.value.trim(), name: nameIn.value.trim() });
    });
    app.appendChild(f);
    var cmp = el('button', { type: 'button', id: 'b-compare', disabled: 'disabled' }, 'Compare the two selected');
    var bar = el('div', { class: 'toolbar' }, cmp, el('span', { class: 'hint' }, 'Select two runs with a report: the older is the base.'));
    app.appendChild(bar);
    var box = el('div', { id: 'history', 'aria-live': 'off' });
    app.appendChild(box);
    var selected = [];
    cmp.addEventListener('click', function () {
      var s = selected.slice().sort(function (a, b) { return a - b; });
      location.hash = '#/compare' + query({ base: s[0], 'new': s[1] });
    });
    /* the runs shown (the first page, and older ones asked for), kept up
       to date every few seconds while the page is visible */
    var shown = [];
    var next = null;
    var last = '';
    var busy = false;
    var draw = function () {
      var focused = document.activeElement;
      var focusRow = focused && focused.closest ? focused.closest('tr.run-row') : null;
      var focusKey = focusRow ? focusRow.getAttribute('data-id') + (focused.tagName === 'A' ? 'a' : 'cb') : null;
      var y = window.scrollY;
      box.textContent = '';
      if (shown.length === 0) {
        box.appendChild(el('p', { class: 'note' }, 'No run yet.'));
      }
      selected = selected.filter(function (id) {
        return shown.some(function (r) { return r.id === id && r.summary; });
      });
      cmp.disabled = selected.length !== 2;
      var rows = shown.map(function (r) {
        var sum = r.summary || {};
        var cb = input('checkbox', { 'aria-label': 'Select run ' + r.id + ' to compare', disabled: r.summary ? null : 'disabled' });
        cb.checked = selected.indexOf(r.id) >= 0;
        cb.addEventListener('change', function () {
          if (cb.checked) {
            selected.push(r.id);
          } else {
            selected = selected.filter(function (x) { return x !== r.id; });
          }
          cmp.disabled = selected.length !== 2;
        });
        return R.row([el('span', null, cb), R.numCell(r.id), el('a', { href: '#/runs/' + r.id }, r.name ? String(r.name) : 'run ' + r.id),
          String(r.target || ''), stateBadge(r.state), when(r.created_at), R.numCell(R.fmtInt(sum.executions)),
          R.numCell(R.fmtInt(sum.failed)), R.numCell(sum.qps === undefined ? '–' : R.fmt(sum.qps)),
          R.numCell(R.fmtMs(sum.p95_ms))], { class: 'run-row', 'data-id': r.id, 'data-state': r.state });
      });
      if (rows.length) {
        box.appendChild(R.table(['compare', 'id', 'name', 'target', 'state', 'created', 'executions', 'failed', 'qps', 'p95'], rows, 'history'));
      }
      if (next) {
        var more = el('button', { type: 'button', class: 'secondary', id: 'b-older' }, 'Older runs');
        more.addEventListener('click', function () { load(next); });
        box.appendChild(more);
      }
      if (focusKey) {
        var row = box.querySelector('tr.run-row[data-id="' + focusKey.replace(/\D/g, '') + '"]');
        var target = row && row.querySelector(/a$/.test(focusKey) ? 'a' : 'input');
        if (target) {
          target.focus({ preventScroll: true });
        }
      }
      window.scrollTo(window.scrollX, y);
    };
    /* before: a page of older runs; null: the newest again (as many as shown) */
    var load = function (before) {
      if (busy) {
        return;
      }
      busy = true;
      var limit = before ? 50 : Math.min(1000, Math.max(50, shown.length));
      api('api/runs' + query({ state: hp.state, target: hp.target, name: hp.name, before: before, limit: limit })).then(function (res) {
        busy = false;
        if (gen !== view.gen) {
          return;
        }
        if (res.status !== 200) {
          box.textContent = '';
          box.appendChild(el('p', { class: 'warn' }, errorText(res)));
          ready('runs');
          return;
        }
        var runs = res.body.runs || [];
        var text = JSON.stringify(res.body);
        if (!before && text === last && box.firstChild) {
          return; /* nothing changed: the page stays as it is */
        }
        if (before) {
          shown = shown.concat(runs);
        } else {
          shown = runs;
          last = text;
        }
        next = res.body.next_before || null;
        draw();
        box.setAttribute('data-loaded', String(++loads));
        ready('runs');
      }, function () { busy = false; });
    };
    var loads = 0;
    load(null);
    view.refresh = function () { load(null); };
    view.timer = setInterval(function () {
      if (document.visibilityState === 'visible') {
        load(null);
      }
    }, HISTORY_REFRESH_MS);
  }

  /* ---- a comparison ------------------------------------------------------------- */

  function sideOf(label, r) {
    var doc = r.body || {};
    var runs = Array.isArray(doc.runs) ? doc.runs : [doc];
    var last = runs[runs.length - 1] || {};
    var sum = last.summary || {};
    var lat = sum.latency_ms || {};
    return el('div', null, el('h3', null, label),
      el('dl', { class: 'facts' },
        el('dt', null, 'levels'), el('dd', null, runs.map(function (x) {
          return x.config ? String(x.config.concurrency) : '?';
        }).join(', ')),
        el('dt', null, 'executions'), el('dd', null, R.fmtInt(sum.executions)),
        el('dt', null, 'failed'), el('dd', null, R.fmtInt(sum.failed)),
        el('dt', null, 'throughput'), el('dd', null, R.fmt(sum.qps) + ' qps'),
        el('dt', null, 'p50 / p95 / p99'), el('dd', null, R.fmtMs(lat.p50) + ' / ' + R.fmtMs(lat.p95) + ' / ' + R.fmtMs(lat.p99))));
  }

  function viewCompare() {
    var gen = view.gen;
    var hp = hashParams();
    heading('Compare two runs');
    api('api/runs?limit=200').then(function (res) {
      if (gen !== view.gen) {
        return;
      }
      var runs = res.body && res.body.runs ? res.body.runs.filter(function (r) { return r.summary; }) : [];
      var opts = function (selectedId) {
        return runs.map(function (r) {
          return el('option', { value: r.id, selected: String(r.id) === String(selectedId) ? 'selected' : null },
            '#' + r.id + ' ' + (r.name || '') + ' (' + r.target + ', ' + when(r.created_at) + ')');
        });
      };
      var base = el('select', null, el('option', { value: '' }, 'choose'), opts(hp.base));
      var nw = el('select', null, el('option', { value: '' }, 'choose'), opts(hp['new']));
      var lim = input('number', { min: 0, step: 'any', value: hp.max_regression || '10' });
      var f = el('form', { class: 'filters', 'aria-label': 'Runs to compare' },
        field('c-base', 'Base run', base), field('c-new', 'New run', nw),
        field('c-limit', 'Regression limit (%)', lim),
        el('div', { class: 'field' }, el('button', { type: 'submit' }, 'Compare')));
      f.addEventListener('submit', function (e) {
        e.preventDefault();
        location.hash = '#/compare' + query({ base: base.value, 'new': nw.value, max_regression: lim.value });
      });
      app.appendChild(f);
      if (!hp.base || !hp['new']) {
        ready('compare');
        return;
      }
      var q = query({ base: hp.base, 'new': hp['new'], max_regression: hp.max_regression });
      Promise.all([api('api/compare' + q), api('api/runs/' + hp.base + '?view=report'),
        api('api/runs/' + hp['new'] + '?view=report')]).then(function (got) {
        if (gen !== view.gen) {
          return;
        }
        var box = el('div', { id: 'comparison' });
        app.appendChild(box);
        if (got[0].status !== 200) {
          box.appendChild(el('p', { class: 'warn', role: 'alert' }, errorText(got[0])));
          ready('compare');
          return;
        }
        var n = got[0].body.regressions || 0;
        box.appendChild(el('p', { class: n > 0 ? 'warn verdict' : 'good verdict' },
          n > 0 ? 'Verdict: REGRESSION (' + n + ')' : 'Verdict: no regression'));
        box.appendChild(el('div', { class: 'side-by-side' },
          sideOf('Base: run ' + hp.base, got[1]), sideOf('New: run ' + hp['new'], got[2])));
        var doc = got[0].body;
        if (!doc.reports && got[1].status === 200 && got[2].status === 200) {
          /* the spectra of base and new, and both reports, from the runs */
          doc.reports = { base: got[1].body, 'new': got[2].body };
        }
        R.renderCompare(box, R.addSpectra(doc));
        ready('compare');
      });
    });
  }

  /* ---- routing -------------------------------------------------------------------- */

  function route() {
    leave();
    var h = location.hash.replace(/^#/, '') || '/new';
    var path = h.split('?')[0];
    var m = /^\/runs\/(\d+)$/.exec(path);
    var nav = m || path === '/runs' ? 'runs' : path === '/compare' ? 'compare' : 'new';
    [].forEach.call(document.querySelectorAll('[data-nav]'), function (a) {
      if (a.getAttribute('data-nav') === nav) {
        a.setAttribute('aria-current', 'page');
      } else {
        a.removeAttribute('aria-current');
      }
    });
    if (m) {
      viewRun(m[1]);
    } else if (path === '/runs') {
      viewRuns();
    } else if (path === '/compare') {
      viewCompare();
    } else {
      viewNew();
    }
    var h1 = app.querySelector('h1');
    document.title = (h1 ? h1.textContent + ' — ' : '') + 'pgvolley';
    if (h1 && route.moved) {
      h1.focus();
    }
    route.moved = true;
  }

  window.addEventListener('hashchange', route);
  /* back to a hidden tab: the history is brought up to date at once */
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible' && view.refresh) {
      view.refresh();
    }
  });
  var logout = document.getElementById('b-logout');
  logout.hidden = !sessionStorage.getItem('pv-signed-in');
  logout.addEventListener('click', function () {
    sessionStorage.removeItem('pv-signed-in');
    signOut();
  });
  route();
}());
