/*!
 * Drives a cadena WebSocket endpoint (a node's or the gateway's `/graphql`) with the reference
 * `graphql-transport-ws` client, `graphql-ws` (pinned in package.json), and reports what the
 * server did: the close code and reason of each misbehaviour the protocol names, and the
 * results of an operation. Where the client cannot be made to misbehave (a subscribe before
 * the acknowledgement, a second connection_init, text that is not JSON), the same `ws`
 * WebSocket the client runs on sends the frames by hand.
 *
 * One JSON request on stdin, one JSON answer on stdout (see ../program.mjs):
 *   {"op":"close-codes","url":"ws://…/graphql","authorization":"Bearer …","subscription":"subscription {…}"}
 *     → {"<scenario>": {"code": n, "reason": "…"}, …}
 *   {"op":"operate","url","authorization"?,"query","variables"?}
 *     → {"results":[ExecutionResult…],"error":null|[GraphQLError…]|{"code","reason"}}
 */
import {createClient} from 'graphql-ws';
import WebSocket from 'ws';
import {dispatcher, runAsProgram} from '../program.mjs';

/** How long any one scenario may take before it counts as "the server never closed". */
const SCENARIO_TIMEOUT_MS = 15000;

/** A `ws` WebSocket that sends `headers` with its upgrade request. */
function withHeaders(headers) {
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, {headers});
    }
  };
}

/**
 * Runs one subscription (or query) with a graphql-ws client made from `options`, and resolves
 * with the socket's close event (or with what happened instead, when it stayed open).
 */
function closeOf(url, options, payload) {
  return new Promise(resolve => {
    const timer = setTimeout(() => {
      client.dispose();
      resolve({code: null, reason: 'the server did not close the socket'});
    }, SCENARIO_TIMEOUT_MS);
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
      ...options,
      on: {
        closed: event => {
          clearTimeout(timer);
          resolve({code: event.code, reason: String(event.reason)});
        }
      }
    });
    const subscribe = () => client.subscribe(payload, {next() {}, error() {}, complete() {}});
    subscribe();
    if(options.twice) {
      subscribe();
    }
  });
}

/** Opens a bare `graphql-transport-ws` socket, sends `frames` and resolves with its close. */
function rawCloseOf(url, frames) {
  return new Promise(resolve => {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    const timer = setTimeout(() => {
      socket.terminate();
      resolve({code: null, reason: 'the server did not close the socket'});
    }, SCENARIO_TIMEOUT_MS);
    socket.on('open', () => {
      for(const frame of frames) {
        socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      }
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({code, reason: reason.toString('utf8')});
    });
    socket.on('error', () => {});
  });
}

async function closeCodes({url, authorization, subscription}) {
  const good = {authorization};
  const operation = {query: subscription};
  const scenarios = {
    // connection_init with a token the server refuses: 4403 Forbidden.
    forbidden: () => closeOf(url, {connectionParams: {authorization: 'Bearer forged'}}, operation),
    // The same token in the upgrade request's Authorization header instead.
    forbiddenUpgrade: () => closeOf(url, {
      webSocketImpl: withHeaders({Authorization: 'Bearer forged'})
    }, operation),
    // The client never sends connection_init (its params never resolve): 4408.
    initTimeout: () => closeOf(url, {connectionParams: () => new Promise(() => {})}, operation),
    // A subscribe whose query is not a string: 4400.
    badMessage: () => closeOf(url, {
      connectionParams: good,
      jsonMessageReplacer: (key, value) => key === 'query' ? 42 : value
    }, operation),
    // Two subscriptions under one id: 4409.
    duplicateId: () => closeOf(url, {connectionParams: good, generateID: () => 'twin', twice: true}, operation),
    // A subscribe before connection_ack: 4401.
    unauthorized: () => rawCloseOf(url, [
      {id: '1', type: 'subscribe', payload: operation}
    ]),
    // connection_init twice: 4429.
    tooManyInits: () => rawCloseOf(url, [
      {type: 'connection_init', payload: good},
      {type: 'connection_init', payload: good}
    ]),
    // Text that is not JSON: 4400.
    notJson: () => rawCloseOf(url, ['{"type": "connection_init"']),
    // A message of the server's: 4400.
    serverMessage: () => rawCloseOf(url, [{type: 'connection_ack'}])
  };
  // One at a time: each scenario is its own socket, and none disturbs another.
  const answer = {};
  for(const [name, run] of Object.entries(scenarios)) {
    answer[name] = await run();
  }
  return answer;
}

/** Runs one operation to its end; returns its results and how it ended. */
function operate({url, authorization, query, variables}) {
  return new Promise(resolve => {
    const results = [];
    let closed = null;
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: authorization ? {authorization} : undefined,
      on: {
        closed: event => {
          closed = {code: event.code, reason: String(event.reason)};
        }
      }
    });
    const timer = setTimeout(() => {
      client.dispose();
      resolve({results, error: {code: null, reason: 'the operation did not complete'}});
    }, SCENARIO_TIMEOUT_MS);
    const finish = error => {
      clearTimeout(timer);
      client.dispose();
      resolve({results, error});
    };
    client.subscribe({query, variables}, {
      next: result => results.push(result),
      // An `error` message (GraphQLError[]) or the close event that ended the operation.
      error: error => finish(Array.isArray(error) ? error : closed ?? {code: null, reason: String(error)}),
      complete: () => finish(null)
    });
  });
}

const handle = dispatcher({'close-codes': closeCodes, operate});

runAsProgram(import.meta.url, handle);
