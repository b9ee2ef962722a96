// peers.mjs: Yjs and Automerge on the workloads of converge_peers.cpp.
//
//   node --expose-gc peers.mjs --peer yjs|automerge [--cases a,b] [--reps R]
//        [--adds N] [--pipeline M] [--pipeline-base B] [--merge-sizes N1,N2]
//        [--delta-n N] [--replicas R --keys K] [--counters C --rounds R]
//        [--memory-n N]
//
// Prints one JSON object on stdout: {"side": peer, "version", "ok", "cases"}.
// Every case checks its result and sets "ok": false (and the process exits
// 1) when it is wrong. Times are process CPU time (process.cpuUsage: the
// machine is shared, and wall time mostly measures the other processes),
// with wall time alongside; each is the best of --reps repetitions in this
// process (the first also warms the JIT and WebAssembly tiers up);
// bench/peers/run takes the median over processes. The workloads,
// and where the peers' semantics differ from converge's, are in README.md.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as A from '@automerge/automerge';
import * as Y from 'yjs';

// The installed versions (package.json files are not in the packages' exports).
const installed = (name) =>
  JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url))).version;

// ---------------------------------------------------------------- options
const opt = {
  peer: '', cases: '', reps: 3, adds: 100000, pipeline: 2000, 'pipeline-base': 100000,
  'merge-sizes': '100000,1000000', 'delta-n': 1000000, replicas: 20, keys: 1000,
  counters: 64, rounds: 10000, 'memory-n': 100000,
};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt) || i + 1 >= process.argv.length) {
    console.error(`peers.mjs: unknown or incomplete option ${process.argv[i]}`);
    process.exit(2);
  }
  opt[k] = typeof opt[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (opt.peer !== 'yjs' && opt.peer !== 'automerge') {
  console.error('peers.mjs: --peer yjs|automerge');
  process.exit(2);
}

// ------------------------------------------------------------------- keys
// The same elements as bench/common.hpp: str_key(i, salt) is 12 hex digits
// of replica_id::mix(i + salt * 2^40) (SplitMix64's finaliser).
const M64 = (1n << 64n) - 1n;
function mix(x) {
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & M64;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & M64;
  x ^= x >> 31n;
  return x;
}
function keys(n, salt = 0, from = 0) {
  const out = new Array(n);
  const base = BigInt(salt) << 40n;
  for (let i = 0; i < n; ++i) {
    out[i] = (mix(base + BigInt(from + i)) & 0xffffffffffffn).toString(16).padStart(12, '0');
  }
  return out;
}

// A clock of both kinds: {wall, cpu} in milliseconds.
function now() {
  const c = process.cpuUsage();
  return { wall: performance.now(), cpu: (c.user + c.system) / 1000 };
}
const since = (t0) => { const t = now(); return { wall: t.wall - t0.wall, cpu: t.cpu - t0.cpu }; };
const add = (a, b) => ({ wall: a.wall + b.wall, cpu: a.cpu + b.cpu });
const zero = () => ({ wall: 0, cpu: 0 });
const gc = () => { if (global.gc) { global.gc(); global.gc(); } };
// The best repetition, by CPU time.
const best = (xs) => xs.reduce((a, b) => (b.cpu < a.cpu ? b : a));
// Per-operation figures of a {wall, cpu} in ms over `ops` operations.
// {name: cpu, name_wall: wall}
const ns = (name, t) => ({ [name]: t.cpu, [`${name}_wall`]: t.wall });
const per = (t, ops, scale = 1e6) => ({ cpu: t.cpu * scale / ops, wall: t.wall * scale / ops });
let allOk = true;
function check(cond, what) {
  if (!cond) {
    allOk = false;
    console.error(`peers.mjs (${opt.peer}): CHECK FAILED: ${what}`);
  }
  return cond;
}
// Bytes the process holds: JS heap, plus external memory (WebAssembly's
// linear memory, where Automerge keeps its documents, and array buffers).
function heldBytes() {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

// Automerge actor ids: 16 bytes in hex, one per replica number.
const actor = (i) => i.toString(16).padStart(32, '0');

// ------------------------------------------------------------- the peers
// Each peer provides the same operations; a "set" is a map from element to
// true (neither peer has a set type), a "register map" a map of strings.
const yjs = {
  version: installed('yjs'),
  doc(id) { const d = new Y.Doc(); d.clientID = id; return d; },
  // n writes in one transaction (the batched case: the peer's best).
  setAll(doc, ks, v) { const m = doc.getMap('m'); doc.transact(() => { for (const k of ks) m.set(k, v(k)); }); },
  size(doc) { return doc.getMap('m').size; },
  state(doc) { return Y.encodeStateAsUpdate(doc); },
  load(bytes, id) { const d = yjs.doc(id); Y.applyUpdate(d, bytes); return d; },
};

// Every Automerge replica starts from one shared change that creates the map
// "m" (replicas that each created their own would hold 20 different maps,
// and a merge would keep only one). Strings are stored as ImmutableString,
// a scalar like our register's value (a plain string is a text CRDT in
// Automerge 3, one op per character).
const amBase = A.change(A.init({ actor: actor(0xffff) }), (d) => { d.m = {}; });
const am = {
  version: installed('@automerge/automerge'),
  doc(id) { return A.clone(amBase, { actor: actor(id) }); },
  setAll(doc, ks, v) {
    return A.change(doc, (d) => {
      const m = d.m;
      for (const k of ks) {
        const x = v(k);
        m[k] = typeof x === 'string' ? new A.ImmutableString(x) : x;
      }
    });
  },
  size(doc) { return Object.keys(doc.m).length; },
  get(doc, k) { const x = doc.m[k]; return x instanceof A.ImmutableString ? x.val : x; },
  state(doc) { return A.save(doc); },
};

// ------------------------------------------------------------------ cases
const cases = {};

// Encoded and in-memory bytes per element of an n-element set held by one
// replica. Runs first, in a fresh process, so Automerge's WebAssembly memory
// has not grown for an earlier case (it never shrinks).
cases.bytes_per_element = () => {
  const n = opt['memory-n'];
  const ks = keys(n, 1);
  const before = heldBytes();
  let doc;
  if (opt.peer === 'yjs') {
    doc = yjs.doc(1);
    yjs.setAll(doc, ks, () => true);
  } else {
    doc = am.setAll(am.doc(1), ks, () => true);
  }
  const held = heldBytes() - before;
  const size = opt.peer === 'yjs' ? yjs.size(doc) : am.size(doc);
  const encoded = (opt.peer === 'yjs' ? yjs.state(doc) : am.state(doc)).length;
  check(size === n, `bytes_per_element: ${size} elements, expected ${n}`);
  return { n, encoded_bytes: encoded, encoded_bytes_per_element: encoded / n,
           memory_bytes_per_element: held / n, memory_measure: 'heapUsed+external after gc' };
};

// Single-replica adds: n set inserts, and n map writes of string values.
function adds(value, what) {
  const n = opt.adds;
  const ks = keys(n, 1);
  const times = [];
  for (let r = 0; r < opt.reps; ++r) {
    gc();
    if (opt.peer === 'yjs') {
      const doc = yjs.doc(1);
      const t0 = now();
      yjs.setAll(doc, ks, value);
      times.push(since(t0));
      check(yjs.size(doc) === n, `${what}: size ${yjs.size(doc)}`);
    } else {
      const doc0 = am.doc(1);
      const t0 = now();
      const doc = am.setAll(doc0, ks, value);
      times.push(since(t0));
      check(am.size(doc) === n, `${what}: size ${am.size(doc)}`);
    }
  }
  return { n, ...ns('ns_per_op', per(best(times), n)), batching: 'one transaction / change for all n' };
}
cases.set_adds = () => adds(() => true, 'set_adds');
cases.map_writes = () => adds((k) => 'v-' + k, 'map_writes');

// Gossip pipeline: replica 1 holds `base` elements, as does replica 2; then
// replica 1 makes m inserts, one update each, and each update is applied at
// replica 2. Time per delta (make + apply), bytes per delta.
cases.pipeline = () => {
  const base = opt['pipeline-base'], m = opt.pipeline;
  const baseKeys = keys(base, 1), newKeys = keys(m, 2);
  const times = [];
  let bytes = 0, first = 0;
  for (let r = 0; r < opt.reps; ++r) {
    gc();
    bytes = 0;
    if (opt.peer === 'yjs') {
      const a = yjs.doc(1);
      yjs.setAll(a, baseKeys, () => true);
      const b = yjs.load(yjs.state(a), 2);
      let last = null;
      a.on('update', (u) => { last = u; });
      const ma = a.getMap('m');
      const t0 = now();
      for (let i = 0; i < m; ++i) {
        ma.set(newKeys[i], true);  // one transaction, one update
        Y.applyUpdate(b, last);
        bytes += last.length;
        if (i === 0) first = last.length;
      }
      times.push(since(t0));
      check(yjs.size(b) === base + m, `pipeline: receiver holds ${yjs.size(b)}`);
    } else {
      let a = am.setAll(am.doc(1), baseKeys, () => true);
      let b = A.load(A.save(a), { actor: actor(2) });
      const t0 = now();
      for (let i = 0; i < m; ++i) {
        const k = newKeys[i];
        a = A.change(a, (d) => { d.m[k] = true; });
        const ch = A.getLastLocalChange(a);
        [b] = A.applyChanges(b, [ch]);
        bytes += ch.length;
        if (i === 0) first = ch.length;
      }
      times.push(since(t0));
      check(am.size(b) === base + m, `pipeline: receiver holds ${am.size(b)}`);
    }
  }
  return { base, m, ...ns('ns_per_delta', per(best(times), m)), bytes_per_delta: bytes / m,
           first_delta_bytes: first,
           unit: opt.peer === 'yjs' ? 'update (Y.Map set, one transaction)' : 'change (A.change of one key)' };
};

// The bytes of one more insert into a set of n elements (one replica).
cases.delta_at_n = () => {
  const n = opt['delta-n'];
  const ks = keys(n, 1), extra = keys(1, 2)[0];
  let bytes;
  if (opt.peer === 'yjs') {
    const a = yjs.doc(1);
    yjs.setAll(a, ks, () => true);
    let last = null;
    a.on('update', (u) => { last = u; });
    a.getMap('m').set(extra, true);
    bytes = last.length;
    check(yjs.size(a) === n + 1, 'delta_at_n: size');
  } else {
    let a = am.setAll(am.doc(1), ks, () => true);
    a = A.change(a, (d) => { d.m[extra] = true; });
    bytes = A.getLastLocalChange(a).length;
    check(am.size(a) === n + 1, 'delta_at_n: size');
  }
  return { n, delta_bytes: bytes };
};

// Full-state merge of two n-element sets, half of them shared: replica 1
// inserts n/2 elements into a state both sides start from, replica 2 inserts
// n/2 more on side A, replica 3 n/2 other ones on side B; timed: merging B's
// state into a copy of A (result 1.5n elements).
function merge(n) {
  const half = n / 2;
  const shared = keys(half, 1), onA = keys(half, 2), onB = keys(half, 3);
  const times = [];
  for (let r = 0; r < opt.reps; ++r) {
    gc();
    if (opt.peer === 'yjs') {
      const s = yjs.doc(1);
      yjs.setAll(s, shared, () => true);
      const sState = yjs.state(s);
      const a = yjs.load(sState, 2);
      yjs.setAll(a, onA, () => true);
      const b = yjs.load(sState, 3);
      yjs.setAll(b, onB, () => true);
      const target = yjs.load(yjs.state(a), 4);
      const bState = yjs.state(b);
      const t0 = now();
      Y.applyUpdate(target, bState);  // Yjs merges encoded state only
      times.push(since(t0));
      check(yjs.size(target) === 3 * half, `merge ${n}: size ${yjs.size(target)}`);
    } else {
      const s = am.setAll(am.doc(1), shared, () => true);
      const a = am.setAll(A.clone(s, { actor: actor(2) }), onA, () => true);
      const b = am.setAll(A.clone(s, { actor: actor(3) }), onB, () => true);
      const target = A.clone(a, { actor: actor(4) });
      const t0 = now();
      const merged = A.merge(target, b);
      times.push(since(t0));
      check(am.size(merged) === 3 * half, `merge ${n}: size ${am.size(merged)}`);
    }
  }
  return { n, result_size: 3 * half, ...ns('ms', best(times)) };
}
for (const n of opt['merge-sizes'].split(',').map(Number)) {
  cases[`merge_${n}`] = () => merge(n);
}

// 20 replicas each write the same 1,000 keys concurrently (one batch per
// replica), then every replica's state is merged into one document.
cases.map_concurrent = () => {
  const R = opt.replicas, K = opt.keys;
  const ks = keys(K, 1);
  // Replica r writes "r<r>-" and 12 random hex digits at key i (values do
  // not repeat the key, so compression gains nothing from the pairing).
  const vals = [null];
  for (let r = 1; r <= R; ++r) vals.push(keys(K, 5, r * K).map((x) => `r${r}-${x}`));
  const index = new Map(ks.map((k, i) => [k, i]));
  const value = (r) => (k) => vals[r][index.get(k)];
  const writeTimes = [], mergeTimes = [];
  let encoded = 0;
  for (let rep = 0; rep < opt.reps; ++rep) {
    gc();
    if (opt.peer === 'yjs') {
      const docs = [];
      let w = zero();
      for (let r = 1; r <= R; ++r) {
        const d = yjs.doc(r);
        const t0 = now();
        yjs.setAll(d, ks, value(r));
        w = add(w, since(t0));
        docs.push(d);
      }
      const states = docs.map((d) => yjs.state(d));
      const target = yjs.doc(R + 1);
      const t0 = now();
      for (const s of states) Y.applyUpdate(target, s);
      mergeTimes.push(since(t0));
      writeTimes.push(w);
      const m = target.getMap('m');
      // Yjs keeps one value per key; every key must hold a value written
      // there, and the same client must win everywhere (ties go by client id).
      const winners = new Set();
      let good = m.size === K;
      ks.forEach((k, i) => {
        const v = m.get(k);
        const match = /^r(\d+)-/.exec(v ?? '');
        if (!match || v !== vals[Number(match[1])]?.[i]) good = false; else winners.add(match[1]);
      });
      check(good && winners.size === 1, `map_concurrent: ${m.size} keys, winners ${[...winners]}`);
      encoded = yjs.state(target).length;
    } else {
      const docs = [];
      let w = zero();
      for (let r = 1; r <= R; ++r) {
        const d0 = am.doc(r);
        const t0 = now();
        const d = am.setAll(d0, ks, value(r));  // ONE change per replica
        w = add(w, since(t0));
        docs.push(d);
      }
      let target = A.clone(docs[0], { actor: actor(R + 1) });
      const t0 = now();
      for (let r = 1; r < R; ++r) target = A.merge(target, docs[r]);
      mergeTimes.push(since(t0));
      writeTimes.push(w);
      // Automerge keeps every concurrent value as a conflict; reads see one.
      let good = am.size(target) === K;
      for (const i of [0, K >> 1, K - 1]) {
        const c = A.getConflicts(target.m, ks[i]);
        const got = c ? Object.values(c).map((x) => String(x)).sort() : [];
        const want = vals.slice(1).map((v) => v[i]).sort();
        if (got.length !== R || got.some((x, j) => x !== want[j])) good = false;
      }
      check(good, `map_concurrent: ${am.size(target)} keys, conflicts kept`);
      encoded = am.state(target).length;
    }
  }
  return { replicas: R, keys: K, ...ns('write_ns_per_op', per(best(writeTimes), R * K)),
           ...ns('merge_ms', best(mergeTimes)), encoded_bytes: encoded };
};

// 64 counters x rounds: each round, every replica increments its counter
// once and the update is applied at an aggregating replica.
cases.counters = () => {
  const C = opt.counters, rounds = opt.rounds;
  const times = [];
  for (let rep = 0; rep < opt.reps; ++rep) {
    gc();
    let value;
    if (opt.peer === 'yjs') {
      // A grow-only counter as Yjs users write one: a Y.Map with one entry per
      // replica holding its count; the value is the sum.
      const docs = [], maps = [], last = [], counts = new Array(C).fill(0);
      for (let i = 0; i < C; ++i) {
        docs.push(yjs.doc(i + 1));
        maps.push(docs[i].getMap('m'));
        docs[i].on('update', (u) => { last[i] = u; });
      }
      const agg = yjs.doc(C + 1);
      const t0 = now();
      for (let r = 0; r < rounds; ++r) {
        for (let i = 0; i < C; ++i) {
          maps[i].set(String(i), ++counts[i]);
          Y.applyUpdate(agg, last[i]);
        }
      }
      times.push(since(t0));
      value = 0;
      agg.getMap('m').forEach((v) => { value += v; });
    } else {
      // Automerge's own counter type: concurrent increments add up.
      const base = A.change(am.doc(C + 1), (d) => { d.c = new A.Counter(0); });
      const docs = [];
      for (let i = 0; i < C; ++i) docs.push(A.clone(base, { actor: actor(i + 1) }));
      let agg = A.clone(base, { actor: actor(C + 2) });
      const t0 = now();
      for (let r = 0; r < rounds; ++r) {
        for (let i = 0; i < C; ++i) {
          docs[i] = A.change(docs[i], (d) => { d.c.increment(1); });
          [agg] = A.applyChanges(agg, [A.getLastLocalChange(docs[i])]);
        }
      }
      times.push(since(t0));
      value = agg.c.value;
    }
    check(value === C * rounds, `counters: value ${value}, expected ${C * rounds}`);
  }
  return { counters: C, rounds, ...ns('ns_per_increment', per(best(times), C * rounds)) };
};

// ------------------------------------------------------------------- main
const order = ['bytes_per_element', 'set_adds', 'map_writes', 'pipeline', 'delta_at_n',
  ...Object.keys(cases).filter((c) => c.startsWith('merge_')), 'map_concurrent', 'counters'];
const wanted = opt.cases ? opt.cases.split(',') : order;
const out = { side: opt.peer, version: opt.peer === 'yjs' ? yjs.version : am.version,
              node: process.version, cases: {} };
for (const name of wanted) {
  if (!cases[name]) {
    console.error(`peers.mjs: no case ${name} (cases: ${order.join(', ')})`);
    process.exit(2);
  }
  const okBefore = allOk;
  allOk = true;
  const result = cases[name]();
  result.ok = allOk;
  allOk = okBefore && allOk;
  out.cases[name] = result;
}
out.ok = allOk;
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
process.exit(allOk ? 0 : 1);
