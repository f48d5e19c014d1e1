// serve_ui.mjs - the dashboard of `pgvolley serve` in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core), end to end.
//
//   node serve_ui.mjs URL OUTDIR              the whole tour
//   node serve_ui.mjs URL OUTDIR --after-restart
//
// The tour ends by writing OUTDIR/serve-ui-runs.json ({cancelled, finished}:
// run ids). --after-restart is for the same state directory once serve has
// been restarted, with PV_RUNS holding {cancelled, finished, interrupted}:
// signs in again (sessions do not outlive the server), finds the three runs
// in the history in those states, opens the finished run's report and
// compares the cancelled and the finished runs.
//
// URL is a running `pgvolley serve --ephemeral` (its first stdout line), with
// the token PV_TOKEN (--token-file) when that is set. Opens the dashboard and
// signs in through its form (a wrong token first), checks that every form
// control has a label, previews
// a workload, shows a bad file's error (file:line:col) next to the workload,
// starts a run on the ephemeral target and watches its live charts grow,
// cancels it, starts a second run and lets it finish, opens its report,
// then compares the two runs chosen in the history, which shows a run created
// through the API meanwhile, and its end, by itself. Fails on any console
// error or warning (a Content-Security-Policy violation is one), page
// error, or request to another origin. Screenshots go to OUTDIR. Prints one
// line per step; exit code 0 when all pass.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const [base, outDir] = [process.argv[2], process.argv[3]];
const origin = new URL(base).origin;
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-chromium-'));
const problems = [];
const TOKEN = process.env.PV_TOKEN || '';
const AFTER = process.argv[4] === '--after-restart';
let expect400 = false;
let expect401 = false;
let step = 'start';
let secondId = 0;

function check(ok, what) {
  if (!ok) throw new Error(what);
}

// typed into the form; a second file is uploaded
const WORKLOAD = '-- PARAMETERS: [[1], [2], [3]]\n' +
  'SELECT id, name, status FROM pgvolley_agents WHERE tenant_id = $1;\n';
const UPLOAD = { name: 'runs_count.sql', mimeType: 'text/plain',
  buffer: Buffer.from('-- EXEC_COUNT: 4\nSELECT count(*) FROM pgvolley_runs WHERE tenant_id = 7;\n') };

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1366, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    // the browser logs every 4xx answer; the bad-input step expects its 400s
    if (expect400 && /status of 400/.test(m.text())) return;
    // ... and signing in its 401s (the first requests, then a wrong token)
    if (expect401 && /status of 401/.test(m.text())) return;
    problems.push(`${step}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${step}: page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + '/') || url.startsWith('data:')) return route.continue();
    problems.push(`${step}: a request to another origin: ${url}`);
    return route.abort();
  });
  const shot = (name) => page.screenshot({ path: path.join(outDir, name), fullPage: true });
  const ok = (what) => console.log(`ok   ${what}`);

  if (TOKEN) {
    step = 'sign in';
    expect401 = true;
    await page.goto(base, { waitUntil: 'load' });
    await page.waitForSelector('dialog#pv-login[open]');
    const label = await page.evaluate(() => document.getElementById('login-token').labels[0].textContent);
    check(label === 'Access token', `the token field's label: ${label}`);
    check(await page.getAttribute('#login-token', 'type') === 'password', 'the token is not a password field');
    check(await page.evaluate(() => document.activeElement.id) === 'login-token', 'the token field has not the focus');
    await page.keyboard.type('not-the-token');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#login-token-error:not(:empty)');
    check(/Wrong token/.test(await page.textContent('#login-token-error')), 'a wrong token is not said so');
    await shot('serve-ui-signin.png');
    await page.fill('#login-token', TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-view="new"]');
    check(!(await page.$('dialog#pv-login')), 'the sign-in dialog stays');
    const cookies = await context.cookies(base);
    const sc = cookies.find((c) => c.name === 'pgvolley_session');
    check(sc && sc.httpOnly && sc.sameSite === 'Strict', `the session cookie: ${JSON.stringify(sc)}`);
    check(await page.evaluate(() => !document.cookie.includes('pgvolley_session')), 'the cookie is readable by scripts');
    expect401 = false;
    ok('signed in through the form (a wrong token refused first); the cookie is HttpOnly, SameSite=Strict');
  }
  if (AFTER) {
    await afterRestart(page, shot, ok);
  } else {
    await tour(page, shot, ok);
  }
} catch (e) {
  failed = true;
  console.log(`FAIL ${step}: ${e.message.split('\n')[0]}`);
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
problems.forEach((p) => console.log(`FAIL ${p}`));
process.exit(failed || problems.length ? 1 : 0);

// After a restart of serve on the same history: the runs are there, in
// their end states, with their reports; two of them compare.
async function afterRestart(page, shot, ok) {
  const runs = JSON.parse(process.env.PV_RUNS);
  step = 'history after a restart';
  await page.goto(`${base}#/runs`);
  await page.waitForSelector('body[data-view="runs"]');
  for (const state of ['cancelled', 'finished', 'interrupted']) {
    await page.waitForSelector(`tr.run-row[data-id="${runs[state]}"][data-state="${state}"]`);
  }
  // the interrupted run kept its report so far: its executions are listed
  const cols = await page.locator('tr.run-row th, thead th').allTextContents();
  const col = cols.indexOf('executions') + 1;
  const done = await page.textContent(`tr.run-row[data-id="${runs.interrupted}"] td:nth-child(${col})`);
  check(col > 0 && /^[\d,]+$/.test(done.trim()) && done.trim() !== '0',
    `the interrupted run's executions: ${done} (columns ${cols})`);
  await shot('serve-ui-after-restart.png');
  ok(`after the restart the history has runs ${runs.cancelled} cancelled, ${runs.finished} finished, ` +
    `${runs.interrupted} interrupted (running when serve stopped; ${done.trim()} executions kept)`);

  step = 'report after a restart';
  await page.goto(`${base}#/runs/${runs.finished}`);
  await page.waitForSelector('body[data-view="report"]');
  check(/finished/.test(await page.textContent('#run-state')), 'the run is not shown finished');
  check((await page.locator('#report .uplot canvas').count()) >= 3, 'the report has not its charts');
  ok(`run ${runs.finished}'s report, with its charts`);

  step = 'compare after a restart';
  await page.goto(`${base}#/runs`);
  await page.waitForSelector(`tr.run-row[data-id="${runs.finished}"]`);
  await page.check(`tr.run-row[data-id="${runs.cancelled}"] input[type="checkbox"]`);
  await page.check(`tr.run-row[data-id="${runs.finished}"] input[type="checkbox"]`);
  await page.click('#b-compare');
  await page.waitForSelector('#comparison');
  check(/Verdict:/.test(await page.textContent('#comparison .verdict')), 'no verdict');
  await shot('serve-ui-compare-after-restart.png');
  ok(`compared after the restart: ${await page.textContent('#comparison .verdict')}`);
}

// The whole tour of a fresh server.
async function tour(page, shot, ok) {

  step = 'form';
  if (!TOKEN) await page.goto(base, { waitUntil: 'load' });
  await page.waitForSelector('body[data-view="new"]');
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((x) => x.type !== 'hidden' && x.labels.length === 0 && !x.getAttribute('aria-label'))
    .map((x) => x.id || x.name || x.outerHTML.slice(0, 60)));
  check(unlabelled.length === 0, `controls without a label: ${unlabelled.join(', ')}`);
  check((await page.locator('#f-target option').count()) >= 1, 'no target offered');
  check(/pool size 2 .*overflow 10/.test(await page.textContent('#pool-hint')), 'the pool rule is not shown for c = 10');
  await page.fill('#f-concurrency', '40');
  check(/pool size 10 .*overflow 40/.test(await page.textContent('#pool-hint')), 'the pool hint does not follow the concurrency');
  // keyboard: the Start button is reachable with Tab
  await page.focus('#b-preview');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.id) === 'b-start', 'Tab from Preview does not reach Start');
  ok('the form: targets, labels, the pool rule, keyboard');

  step = 'preview';
  await page.fill('#f-sql', WORKLOAD);
  await page.setInputFiles('#f-upload', UPLOAD);
  await page.waitForSelector('#uploads li');
  await page.click('#b-preview');
  await page.waitForSelector('tr.preview-query');
  check((await page.locator('tr.preview-query').count()) === 2, 'the preview does not list the 2 queries');
  check((await page.locator('tr.preview-level').count()) === 1, 'the preview does not list the level');
  const lvl = await page.textContent('tr.preview-level');
  check(/40/.test(lvl) && /10/.test(lvl), `the level's pool is not the seed's rule: ${lvl}`);
  check(/scenario|execution/.test(await page.textContent('#preview')), 'no scenarios in the preview');
  await shot('serve-ui-form.png');
  ok('preview: queries, scenarios, counts, the level\'s pool');

  step = 'bad input';
  expect400 = true;
  await page.fill('#f-sql', '-- EXEC_COUNT: many\nSELECT 1;\n');
  await page.click('#b-preview');
  await page.waitForSelector('#f-workload-error:not(:empty)');
  const err = await page.textContent('#f-workload-error');
  check(/^workload\.sql:1:\d+: EXEC_COUNT/.test(err), `the file's error is not shown at the workload: ${err}`);
  await page.fill('#f-sql', WORKLOAD);
  await page.fill('#f-concurrency', '5000');
  await page.click('#b-preview');
  await page.waitForSelector('#f-concurrency-error:not(:empty)');
  check(await page.getAttribute('#f-concurrency', 'aria-invalid') === 'true', 'the concurrency is not marked invalid');
  await page.waitForTimeout(200);
  expect400 = false;
  ok(`bad input shown next to its field: ${err.trim()}`);

  step = 'live run';
  await page.fill('#f-concurrency', '4');
  await page.fill('#f-name', 'to be cancelled');
  await page.check('#f-mode-duration');
  await page.fill('#f-duration', '60');
  await page.fill('#f-interval', '0.5');
  await page.click('#b-start');
  await page.waitForSelector('body[data-view="live"]');
  const points = () => page.getAttribute('#live', 'data-points').then(Number);
  await page.waitForFunction(() => Number(document.getElementById('live').dataset.points) >= 2, null, { timeout: 30000 });
  const p1 = await points();
  await page.waitForFunction((n) => Number(document.getElementById('live').dataset.points) > n, p1, { timeout: 15000 });
  const p2 = await points();
  check((await page.locator('#live .uplot canvas').count()) === 3, 'the live view does not have its 3 charts');
  check((await page.textContent('#l-inflight')) !== '–', 'no in-flight figure');
  await shot('serve-ui-live.png');
  ok(`the live charts grow: ${p1} then ${p2} points`);

  step = 'cancel';
  const firstId = Number(new URL(page.url()).hash.split('/')[2]);
  await page.click('#b-cancel');
  await page.waitForSelector('body[data-view="report"], body[data-view="run"]', { timeout: 30000 });
  check(/cancelled/.test(await page.textContent('#run-state')), 'the run is not shown cancelled');
  ok(`run ${firstId} cancelled`);

  step = 'finished run';
  await page.click('a[data-nav="new"]');
  await page.waitForSelector('body[data-view="new"]');
  await page.fill('#f-sql', WORKLOAD);
  await page.setInputFiles('#f-upload', UPLOAD);
  await page.waitForSelector('#uploads li');
  await page.fill('#f-name', 'to the end');
  await page.fill('#f-concurrency', '4');
  await page.check('#f-mode-duration');
  await page.fill('#f-duration', '2');
  await page.fill('#f-interval', '0.5');
  await page.fill('#f-threshold', 'p99 < 10s');
  await page.click('#b-start');
  await page.waitForSelector('body[data-view="report"]', { timeout: 30000 });
  secondId = Number(new URL(page.url()).hash.split('/')[2]);
  check(/finished/.test(await page.textContent('#run-state')), 'the run is not shown finished');
  const heads = await page.locator('#report h2').allTextContents();
  for (const h of ['Summary', 'Targets', 'Queries', 'Latency percentile spectrum', 'Over time']) {
    check(heads.some((x) => x.startsWith(h)), `the report has no "${h}" (has ${heads.join(' | ')})`);
  }
  check((await page.locator("#report .uplot canvas").count()) >= 3, 'the report has not its charts');
  await shot('serve-ui-report.png');
  ok(`run ${secondId} finished, its report shown`);

  step = 'history';
  await page.click('a[data-nav="runs"]');
  await page.waitForSelector('body[data-view="runs"]');
  check((await page.locator('tr.run-row').count()) >= 2, 'the history does not list the runs');
  await page.check(`tr.run-row[data-id="${firstId}"] input[type="checkbox"]`);
  await page.check(`tr.run-row[data-id="${secondId}"] input[type="checkbox"]`);
  await shot('serve-ui-history.png');
  ok('the history lists the runs');

  step = 'history refresh';
  const made = await fetch(`${base}api/runs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {}) },
    body: JSON.stringify({ target: 'ephemeral', name: 'from the API', concurrency: 2, duration: 1,
      files: [{ name: 'api.sql', content: WORKLOAD }] }),
  });
  check(made.status === 201, `POST /api/runs through the API: ${made.status}`);
  const apiId = (await made.json()).id;
  await page.waitForSelector(`tr.run-row[data-id="${apiId}"]`, { timeout: 15000 });
  await page.waitForSelector(`tr.run-row[data-id="${apiId}"][data-state="finished"]`, { timeout: 30000 });
  check(await page.isChecked(`tr.run-row[data-id="${firstId}"] input[type="checkbox"]`) &&
    await page.isChecked(`tr.run-row[data-id="${secondId}"] input[type="checkbox"]`), 'the refresh lost the selection');
  check(await page.isEnabled('#b-compare'), 'the refresh disabled Compare');
  ok(`the history showed run ${apiId} (made through the API) and its end by itself`);

  step = 'compare';
  await page.click('#b-compare');
  await page.waitForSelector('body[data-view="compare"]');
  await page.waitForSelector('#comparison');
  check((await page.locator('tr.compare-row').count()) >= 1, 'no comparison rows');
  check(/Verdict:/.test(await page.textContent('#comparison .verdict')), 'no verdict');
  check((await page.locator('.side-by-side > div').count()) === 2, 'not side by side');
  await shot('serve-ui-compare.png');
  ok(`history filtered and compared: ${await page.textContent('#comparison .verdict')}`);

  step = 'filter';
  await page.click('a[data-nav="runs"]');
  await page.waitForSelector('body[data-view="runs"]');
  await page.selectOption('#h-state', 'cancelled');
  await page.click('form.filters button[type="submit"]');
  await page.waitForFunction(() => location.hash.includes('state=cancelled') &&
    document.body.dataset.route === location.hash && document.body.dataset.view === 'runs');
  const states = await page.locator('tr.run-row').evaluateAll((rs) => rs.map((r) => r.dataset.state));
  check(states.length >= 1 && states.every((s) => s === 'cancelled'), `the state filter: ${states}`);
  ok('the history\'s state filter');

  step = 'again';
  await page.goto(`${base}#/runs/${secondId}`);
  await page.waitForSelector('body[data-view="report"]');
  await page.click('#b-again');
  await page.waitForSelector('body[data-view="new"]');
  check(await page.inputValue('#f-name') === 'to the end', 'the name is not carried over');
  check(await page.inputValue('#f-concurrency') === '4', 'the concurrency is not carried over');
  check(await page.isChecked('#f-mode-duration') && await page.inputValue('#f-duration') === '2', 'the duration is not carried over');
  check((await page.locator('#uploads li').count()) === 2, 'the files are not carried over');
  check(/p99 < 10s/.test(await page.inputValue('#f-threshold')), 'the threshold is not carried over');
  ok('a new run from a finished one\'s settings');

  if (TOKEN) {
    step = 'sign out';
    expect401 = true;
    await page.click('#b-logout');
    await page.waitForSelector('dialog#pv-login[open]');
    check(!(await context.cookies(base)).some((c) => c.name === 'pgvolley_session'), 'the cookie stays after signing out');
    expect401 = false;
    ok('signed out: the sign-in form again');
  }
  fs.writeFileSync(path.join(outDir, 'serve-ui-runs.json'),
    JSON.stringify({ cancelled: firstId, finished: secondId }));
}
