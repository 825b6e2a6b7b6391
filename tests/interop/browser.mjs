// A real browser (Debian's Chromium, driven by puppeteer-core over CDP) on a page of a cadena
// server, with no internet access: every request to another origin is aborted and reported.
//
// Request (stdin): {"op": "graphiql", "url": "<the page>", "chromium": "<executable>"}
//   or {"op": "console", "url": "<the node>", "chromium", "username", "password",
//       "paths": [{"path": "/console", "name": "certifications"}, ...], "screenshots": "<dir>"}
// Answer (stdout): {"rendered": bool, "outside": [urls], "requests": [urls],
//                   "graphql": [{"method", "status"}], "errors": [page errors],
//                   "pages": [{"path", "lang", "status", "title", "violations": [{id, impact, nodes}]}]}
// The console is checked with axe-core (injected from node_modules, not fetched) in both of its
// languages; a screenshot of each page goes to `screenshots`.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const request = JSON.parse(readFileSync(0, 'utf8'));
const origin = new URL(request.url).origin;

const browser = await puppeteer.launch({
  executablePath: request.chromium,
  headless: true,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking'],
});
const answer = { rendered: false, outside: [], requests: [], graphql: [], errors: [], pages: [] };
try {
  const page = await browser.newPage();
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const url = r.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return r.continue();
    answer.requests.push(url);
    if (new URL(url).origin !== origin) {
      answer.outside.push(url);
      return r.abort('internetdisconnected');
    }
    return r.continue();
  });
  page.on('response', (r) => {
    if (new URL(r.url()).pathname === '/graphql') {
      answer.graphql.push({ method: r.request().method(), status: r.status() });
    }
  });
  page.on('pageerror', (e) => answer.errors.push(String(e)));
  if (request.op === 'console') {
    await consolePages(page);
  } else if (request.op === 'graphiql') {
    await graphiql(page);
  } else {
    throw new Error(`unknown op ${request.op}`);
  }
} catch (error) {
  // Reported, not thrown: the test says what the browser saw (requests blocked, errors).
  answer.errors.push(String(error));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(answer));

/** Logs in through the form, then opens every path in both languages, checked by axe-core. */
async function consolePages(page) {
  await page.goto(`${request.url}/console/login`, { waitUntil: 'networkidle0' });
  await page.type('#username', request.username);
  await page.type('#password', request.password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('main button[type=submit]')]);
  for (const lang of ['es', 'en']) {
    for (const { path, name: pageName } of request.paths) {
      const separator = path.includes('?') ? '&' : '?';
      const response = await page.goto(`${request.url}${path}${separator}lang=${lang}`, { waitUntil: 'networkidle0' });
      await page.evaluate(axeSource);
      const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      const name = `console-${pageName}.${lang}.png`;
      if (request.screenshots) await page.screenshot({ path: `${request.screenshots}/${name}`, fullPage: true });
      answer.pages.push({
        path,
        lang,
        status: response.status(),
        title: await page.title(),
        htmlLang: await page.evaluate(() => document.documentElement.lang),
        screenshot: name,
        violations: results.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })),
      });
    }
  }
  answer.rendered = true;
}

/** GraphiQL renders, and asks the server for its schema. */
async function graphiql(page) {
  await page.goto(request.url, { waitUntil: 'networkidle0', timeout: 30000 });
  // GraphiQL renders its editors, then asks the server for its schema (introspection).
  await page.waitForSelector('.graphiql-container .graphiql-query-editor', { timeout: 20000 });
  await page.waitForFunction(() => document.querySelector('.graphiql-doc-explorer-title, .graphiql-logo'), {
    timeout: 20000,
  });
  const deadline = Date.now() + 20000;
  while (!answer.graphql.some((g) => g.method === 'POST') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  answer.rendered = true;
}
