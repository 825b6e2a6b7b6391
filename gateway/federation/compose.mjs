// Composes Federation v2 subgraphs into a supergraph SDL, offline, for `cadena gateway`
// (gateway/src/federation/compose.rs runs it).
//
// stdin:  {"subgraphs": [{"name": "node", "url": "http://…/graphql", "sdl": "…"}]}
// stdout: {"supergraphSdl": "…"} or {"errors": [{"message": "…", "code": "…", "subgraph": "…"}]}
// Exit code 0 in both cases: a composition error is an answer, not a crash; anything else
// (bad input, a missing package) exits non-zero with the reason on stderr.
//
// @theguild/federation-composition (MIT) rather than graphql-composition: the latter leaves
// @join__type off Query and hive-router's planner then finds no paths (see STACK.md).
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", (chunk) => chunks.push(chunk));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

function errorOf(error, subgraph) {
  const code = error?.extensions?.code;
  return {
    message: String(error?.message ?? error),
    ...(typeof code === "string" ? { code } : {}),
    ...(subgraph ? { subgraph } : {}),
  };
}

const input = JSON.parse(await readStdin());
if (!Array.isArray(input?.subgraphs)) {
  throw new Error("expected {\"subgraphs\": [{name, url, sdl}]} on stdin");
}

// Parse every subgraph first so that each syntax error names its subgraph; the composer would
// only see a DocumentNode and could not say where it came from.
const errors = [];
const services = [];
for (const { name, url, sdl } of input.subgraphs) {
  try {
    services.push({ name, url, typeDefs: parse(sdl) });
  } catch (error) {
    errors.push(errorOf(error, name));
  }
}

let output;
if (errors.length > 0) {
  output = { errors };
} else {
  const result = composeServices(services);
  output = result.errors
    ? { errors: result.errors.map((error) => errorOf(error)) }
    : { supergraphSdl: result.supergraphSdl };
}
process.stdout.write(JSON.stringify(output));
