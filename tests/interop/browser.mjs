// A real browser (Debian's Chromium, driven by puppeteer-core over CDP) on a page of a cadena
// server, with no internet access: every request to another origin is aborted and reported.
//
// Request (stdin): {"op": "graphiql", "url": "<the page>", "chromium": "<executable>"}
// Answer (stdout): {"rendered": bool, "outside": [urls], "requests": [urls],
//                   "graphql": [{"method", "status"}], "errors": [page errors]}
import { readFileSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const request = JSON.parse(readFileSync(0, 'utf8'));
const origin = new URL(request.url).origin;

const browser = await puppeteer.launch({
  executablePath: request.chromium,
  headless: true,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking'],
});
const answer = { rendered: false, outside: [], requests: [], graphql: [], errors: [] };
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
  if (request.op !== 'graphiql') throw new Error(`unknown op ${request.op}`);
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
} catch (error) {
  // Reported, not thrown: the test says what the browser saw (requests blocked, errors).
  answer.errors.push(String(error));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(answer));
