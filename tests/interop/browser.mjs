// A real browser (Debian's Chromium, driven by puppeteer-core over CDP) on a page of a cadena
// server, with no internet access: every request to another origin is aborted and reported.
//
// Request (stdin): {"op": "graphiql", "url": "<the page>", "chromium": "<executable>"}
//   or {"op": "console", "url": "<the node>", "chromium", "username", "password" (the login page
//       is checked before logging in),
//       "paths": [{"path": "/console", "name": "certifications"}, ...], "screenshots": "<dir>"}
// Answer (stdout): {"rendered": bool, "outside": [urls], "requests": [urls],
//                   "graphql": [{"method", "status"}], "errors": [page errors],
//                   "pages": [{"path", "lang", "status", "title", "violations": [{id, impact, nodes}]}]}
// The console is checked with axe-core (injected from node_modules, not fetched) in both of its
// languages; a screenshot of each page goes to `screenshots`.
//
//   or {"op": "steps", "chromium", "screenshots": "<dir>",
//       "actors": [{"name", "origin", "username", "password"}],
//       "steps": [{"actor", <one of>: "login": true | "goto": path | "fill": {selector: text}
//                  | "click": selector | "submit": selector (click, wait for the next page)
//                  | "waitFor": {"selector", "text" (one or a list, all in one element), "timeout"} | "text": selector | "axe": true
//                  | "screenshot": name | "navigations": true}]}
// Answer: {"steps": [{"status", "url", "text", "violations", "navigations", "error"}], "outside",
//          "errors"}. Each actor has a browser context of its own (its own cookies) and may
// reach its own node's origin only; a failed step ends the run.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const request = JSON.parse(readFileSync(0, 'utf8'));
const origin = request.url ? new URL(request.url).origin : null;

const browser = await puppeteer.launch({
  executablePath: request.chromium,
  headless: true,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking'],
});
const answer = { rendered: false, outside: [], requests: [], graphql: [], errors: [], pages: [], steps: [] };
try {
  if (request.op === 'steps') {
    await steps();
  } else {
    const { page } = await actorPage({ name: request.op, origin });
    if (request.op === 'console') {
      await consolePages(page);
    } else if (request.op === 'graphiql') {
      await graphiql(page);
    } else {
      throw new Error(`unknown op ${request.op}`);
    }
  }
} catch (error) {
  // Reported, not thrown: the test says what the browser saw (requests blocked, errors).
  answer.errors.push(String(error));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(answer));

/** One page per actor, in a context of its own, allowed its own node's origin only. */
async function actorPage(actor) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const own = new URL(actor.origin).origin;
  const state = { page, navigations: 0 };
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const url = r.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return r.continue();
    answer.requests.push(url);
    if (new URL(url).origin !== own) {
      answer.outside.push(`${actor.name}: ${url}`);
      return r.abort('internetdisconnected');
    }
    return r.continue();
  });
  page.on('response', (r) => {
    if (new URL(r.url()).pathname === '/graphql') {
      answer.graphql.push({ method: r.request().method(), status: r.status() });
    }
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) state.navigations += 1;
  });
  page.on('pageerror', (e) => answer.errors.push(`${actor.name}: ${e}`));
  return state;
}

/** Runs `request.steps`, each as one actor. */
async function steps() {
  const actors = new Map();
  for (const actor of request.actors) actors.set(actor.name, { ...actor, ...(await actorPage(actor)) });
  for (const step of request.steps) {
    const actor = actors.get(step.actor);
    const { page } = actor;
    const result = { actor: step.actor };
    answer.steps.push(result);
    try {
      if (step.login) {
        await page.goto(`${actor.origin}/console/login`, { waitUntil: 'networkidle0' });
        await page.type('#username', actor.username);
        await page.type('#password', actor.password);
        await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('main button[type=submit]')]);
      } else if (step.goto) {
        const response = await page.goto(`${actor.origin}${step.goto}`, { waitUntil: 'domcontentloaded' });
        result.status = response.status();
      } else if (step.fill) {
        for (const [selector, text] of Object.entries(step.fill)) {
          const kind = await page.$eval(selector, (e) => (e.tagName === 'INPUT' ? e.type : e.tagName));
          if (kind === 'SELECT') {
            await page.select(selector, text);
          } else if (kind === 'date') {
            // A date field's typing follows the browser's locale; its value is ISO 8601.
            await page.$eval(selector, (e, value) => { e.value = value; }, text);
          } else {
            await page.$eval(selector, (e) => { e.value = ''; });
            await page.type(selector, text);
          }
        }
      } else if (step.click) {
        await page.click(step.click);
      } else if (step.submit) {
        const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click(step.submit)]);
        result.status = response ? response.status() : null;
      } else if (step.waitFor) {
        const { selector, text, timeout } = step.waitFor;
        // Every one of `text` (a string or a list) in one element matching `selector`.
        await page.waitForFunction(
          (s, texts) => [...document.querySelectorAll(s)].some((e) => texts.every((t) => e.textContent.includes(t))),
          { timeout: timeout || 30000 },
          selector,
          [text].flat(),
        );
      } else if (step.text) {
        result.text = await page.$eval(step.text, (e) => e.innerText);
      } else if (step.axe) {
        await page.evaluate(axeSource);
        const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
        result.violations = results.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
      } else if (step.screenshot) {
        await page.screenshot({ path: `${request.screenshots}/${step.screenshot}`, fullPage: true });
      } else if (step.navigations) {
        result.navigations = actor.navigations;
      }
      result.url = page.url();
    } catch (error) {
      result.error = String(error);
      result.url = page.url();
      result.page = await page.content().catch(() => '');
      break;
    }
  }
}

/** The login page, then, logged in through the form, every path: each in both languages,
 * checked by axe-core, with a screenshot. */
async function consolePages(page) {
  for (const lang of ['es', 'en']) {
    await checkPage(page, '/console/login', 'login', lang);
  }
  await page.goto(`${request.url}/console/login`, { waitUntil: 'networkidle0' });
  await page.type('#username', request.username);
  await page.type('#password', request.password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('main button[type=submit]')]);
  for (const lang of ['es', 'en']) {
    for (const { path, name } of request.paths) {
      await checkPage(page, path, name, lang);
    }
  }
  answer.rendered = true;
}

async function checkPage(page, path, pageName, lang) {
  const separator = path.includes('?') ? '&' : '?';
  // The partner feed keeps its event stream open: idle means at most that one connection.
  const response = await page.goto(`${request.url}${path}${separator}lang=${lang}`, { waitUntil: 'networkidle2' });
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
