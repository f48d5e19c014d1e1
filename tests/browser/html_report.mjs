// html_report.mjs - opens pgvolley's HTML reports in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) and checks them.
//
//   node html_report.mjs SPEC.json
//
// SPEC is a JSON array of pages: {"name", "file", "screenshot",
// "minCanvases", "headings": [h2 texts that must be there],
// "rows": {"css selector": exact count}, "texts": [strings that must be in
// the page's text]}. For each page: loaded from its file:// URL with every
// other request blocked (and counted: any is a failure), no console error,
// no page error, no dialog (alert), the page marked itself rendered, the
// uPlot canvases have a non-zero size and something drawn on them, the
// headings and rows are there, exactly the page's three scripts run; then a
// full-page screenshot. Prints one line per page; exit code 0 when all pass.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-chromium-'));
let failures = 0;

function fail(page, what) {
  failures++;
  console.log(`FAIL ${page.name}: ${what}`);
}

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1200, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const p of spec) {
    const page = await context.newPage();
    const problems = [];
    const outside = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', async (d) => {
      problems.push(`dialog ${d.type()}: ${d.message()}`);
      await d.dismiss();
    });
    // Self-containment: only the file itself may load; anything else is
    // blocked and counted.
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      outside.push(url);
      return route.abort();
    });
    const url = pathToFileURL(path.resolve(p.file)).href;
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 10000 }).catch(() => {
      problems.push('the page did not finish rendering (body[data-rendered])');
    });
    const facts = await page.evaluate(() => {
      const canvases = [...document.querySelectorAll('.uplot canvas')];
      const drawn = canvases.map((c) => {
        const ctx = c.getContext('2d');
        if (!ctx || c.width === 0 || c.height === 0) return false;
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
        return false;
      });
      return {
        canvases: canvases.map((c) => [c.width, c.height]),
        drawn,
        headings: [...document.querySelectorAll('h2')].map((h) => h.textContent),
        scripts: document.scripts.length,
        text: document.body.innerText,
        title: document.title,
      };
    });
    problems.forEach((x) => fail(p, x));
    outside.forEach((u) => fail(p, `a request left the file: ${u}`));
    if (facts.scripts !== 3) fail(p, `${facts.scripts} script elements, not 3 (data, uPlot, report)`);
    if (facts.canvases.length < (p.minCanvases || 0)) {
      fail(p, `${facts.canvases.length} uPlot canvases, expected at least ${p.minCanvases}`);
    }
    facts.canvases.forEach(([w, h], i) => {
      if (!(w > 0 && h > 0)) fail(p, `canvas ${i} has size ${w}x${h}`);
    });
    facts.drawn.forEach((d, i) => {
      if (!d) fail(p, `canvas ${i} is blank`);
    });
    for (const h of p.headings || []) {
      if (!facts.headings.some((x) => x.startsWith(h))) fail(p, `no heading "${h}" (have: ${facts.headings.join(' | ')})`);
    }
    for (const [sel, n] of Object.entries(p.rows || {})) {
      const got = await page.locator(sel).count();
      if (got !== n) fail(p, `${got} elements ${sel}, expected ${n}`);
    }
    for (const t of p.texts || []) {
      if (!facts.text.includes(t)) fail(p, `text not shown: ${t}`);
    }
    if (p.screenshot) await page.screenshot({ path: p.screenshot, fullPage: p.fullPage !== false });
    console.log(`${problems.length || outside.length ? 'bad ' : 'ok  '} ${p.name}: ${facts.canvases.length} charts, ` +
      `${facts.headings.length} sections, title "${facts.title}"`);
    await page.close();
  }
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
