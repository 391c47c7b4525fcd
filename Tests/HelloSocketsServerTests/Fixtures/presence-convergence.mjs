// Presence clients converge: node --experimental-websocket presence-convergence.mjs PORT [PHOENIX_JS_DIR]
//
// Against a server running Fixtures/presence (room:* tracks {user}; "status" updates the meta), members join,
// update, leave, drop their connection and open a second tab, each kept by a Phoenix.Presence client: ours
// (served at /js/phoenix-client.js) and, when PHOENIX_JS_DIR points at phoenix.js's assets/js/phoenix folder,
// phoenix.js's own. Every list left must equal the server's (the presence_state of a last joiner), compared by
// key and phx_ref. Prints "converged N clients" and exits 0, or prints the lists that differ and exits 1.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [port, phoenixDir] = process.argv.slice(2);
const endpoint = `ws://127.0.0.1:${port}/socket`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Our client: the script every hello-sockets serves, run as a browser would (it sets globalThis.Phoenix).
(0, eval)(await (await fetch(`http://127.0.0.1:${port}/js/phoenix-client.js`)).text());
const libraries = [["ours", globalThis.Phoenix]];

// phoenix.js's sources import "./socket" without extensions: copy them as ES modules Node can load.
if (phoenixDir) {
  const copy = mkdtempSync(join(tmpdir(), "phoenix-js-"));
  writeFileSync(join(copy, "package.json"), '{"type":"module"}');
  for (const file of readdirSync(phoenixDir).filter((name) => name.endsWith(".js"))) {
    const text = readFileSync(join(phoenixDir, file), "utf8").replace(/from "(\.\/[\w-]+)"/g, 'from "$1.js"');
    writeFileSync(join(copy, file), text);
  }
  libraries.push(["phoenix.js", await import(pathToFileURL(join(copy, "index.js")).href)]);
}

function member(library, user) {
  const [name, lib] = library;
  const socket = new lib.Socket(endpoint, { params: {}, reconnectAfterMs: () => 60000 });
  socket.connect();
  const channel = socket.channel("room:lobby", { user });
  const presence = new lib.Presence(channel);
  let synced = false;
  presence.onSync(() => { synced = true; });
  channel.join();
  return { library: name, user, socket, channel, presence, isSynced: () => synced };
}

// A list by key → phx_refs, sorted: what two clients must agree on.
function normalized(presence) {
  const entries = presence.list((key, { metas }) => [key, metas.map((meta) => meta.phx_ref).sort()]);
  return JSON.stringify(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1))));
}

async function until(condition, what, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const members = [];
for (let i = 0; i < 8; i++) members.push(member(libraries[i % libraries.length], `u${i % 6}`));  // u0, u1: two tabs
await until(() => members.every((m) => m.isSynced()), "every member's first state");
members[1].channel.push("status", { status: "away" });
members[2].channel.push("status", { status: "busy" });
members[3].channel.leave();
members[4].socket.disconnect();
members.push(member(libraries[0], "late"));
if (libraries.length > 1) members.push(member(libraries[1], "later"));
members[5].channel.push("status", { status: "back" });

// The server's list: a last joiner's presence_state (it includes itself).
const witness = member(libraries[0], "witness");
await until(() => witness.isSynced(), "the witness's state");
const alive = [...members.filter((_, i) => i !== 3 && i !== 4), witness];
// Who must be there in the end (u3 left, u4 dropped; u0 and u1 have two tabs), so that a moment when every
// list agrees on an older state (a batch window not sent yet) does not count.
const expected = { u0: 2, u1: 2, u2: 1, u5: 1, late: 1, witness: 1, ...(libraries.length > 1 ? { later: 1 } : {}) };
const complete = (list) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(list)).map(([k, refs]) => [k, refs.length])))
  === JSON.stringify(Object.fromEntries(Object.entries(expected).sort(([a], [b]) => (a < b ? -1 : 1))));
let truth = "";
try {
  await until(() => {
    truth = normalized(witness.presence);
    return complete(truth) && alive.every((m) => normalized(m.presence) === truth);
  }, "every list to match the server's", 10000);
  console.log(`converged ${alive.length} clients (${libraries.map(([name]) => name).join(" + ")}): ${truth}`);
  process.exitCode = 0;
} catch (error) {
  console.log(`${error.message}\nserver: ${truth}`);
  for (const m of alive) console.log(`${m.library} ${m.user}: ${normalized(m.presence)}`);
  process.exitCode = 1;
}
for (const m of members.concat([witness])) m.socket.disconnect();
setTimeout(() => process.exit(), 200);
