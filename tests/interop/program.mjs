/*!
 * What the interop programs (vc.mjs, jose.mjs) share: dispatching one request by its "op",
 * and, run as a program, reading that request from stdin and writing the answer to stdout.
 */
import {realpathSync} from 'node:fs';
import {basename} from 'node:path';
import {fileURLToPath} from 'node:url';

/**
 * A `handle(request)` that runs `operations[request.op]` on a JSON object request.
 */
export function dispatcher(operations) {
  return async function handle(request) {
    if(!request || typeof request !== 'object' || Array.isArray(request)) {
      throw new Error('The request must be a JSON object.');
    }
    const operation = operations[request.op];
    if(!operation) {
      throw new Error(`Unknown "op" ${JSON.stringify(request.op)}; expected ` +
        Object.keys(operations).join(', '));
    }
    return operation(request);
  };
}

/**
 * When the module at `moduleUrl` is the program node runs (not when it is imported, as by
 * selftest.mjs and bench.mjs), answers the one JSON request on stdin with `handle` on stdout;
 * a failure goes to stderr, told by `describe`, with exit code 1.
 */
export function runAsProgram(moduleUrl, handle, describe = e => String(e?.message ?? e)) {
  const path = fileURLToPath(moduleUrl);
  if(!process.argv[1] || realpathSync(process.argv[1]) !== path) {
    return;
  }
  main(handle).catch(e => {
    process.stderr.write(`${basename(path)}: ${describe(e)}\n${e?.stack ?? ''}\n`);
    process.exitCode = 1;
  });
}

async function main(handle) {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  let request;
  try {
    request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch(e) {
    throw new Error(`stdin is not one JSON request: ${e.message}`);
  }
  const answer = await handle(request);
  process.stdout.write(JSON.stringify(answer) + '\n');
}
