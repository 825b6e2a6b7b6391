#!/usr/bin/env node
// Interop harness: runs the GraphQL-over-HTTP audits of The Guild's `graphql-http` (the
// spec's reference audit suite, pinned in package.json) against a running server. Reads one
// JSON request on stdin, writes one JSON answer on stdout (see README.md):
//   {"op": "audit-server", "url": "http://127.0.0.1:…/graphql"}
//   → {"results": [{"id", "name", "status": "ok"|"warn"|"error", "reason"?}…]}
// A failed audit is an answer (exit 0); exit 1 means the harness itself failed.
import {serverAudits} from 'graphql-http';

import {dispatcher, runAsProgram} from './program.mjs';

async function auditServer({url}) {
  if(typeof url !== 'string' || !/^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url)) {
    // The audits send some 60 requests: only to a server of the test's own, on the loopback.
    throw new Error(`"url" must be an http URL on the loopback, not ${JSON.stringify(url)}`);
  }
  const results = [];
  // One at a time, in the suite's order, so a failure's server log reads in sequence.
  for(const {fn} of serverAudits({url})) {
    const {id, name, status, reason} = await fn();
    results.push(reason === undefined ? {id, name, status} : {id, name, status, reason});
  }
  return {results};
}

export const handle = dispatcher({'audit-server': auditServer});

runAsProgram(import.meta.url, handle);
