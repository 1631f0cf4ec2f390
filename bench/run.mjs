#!/usr/bin/env node
// clawgate benchmarks — see bench/README.md.
//
//   node bench/run.mjs            human-readable report on stdout
//   node bench/run.mjs --json     progress on stderr, one JSON document on stdout
//   node bench/run.mjs --strict   exit 1 when any target is missed
//
// Needs a built dist/ (npm run bench builds first). Everything listens on 127.0.0.1 only.
// The same file also serves as the helper child processes (--role echo | --role load | --role nodes).
import { execFileSync, spawn } from "node:child_process"
import crypto from "node:crypto"
import { once } from "node:events"
import fs from "node:fs"
import http from "node:http"
import os from "node:os"
import path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import WebSocket, { WebSocketServer } from "ws"

const SELF = fileURLToPath(import.meta.url)
const ROOT = path.resolve(path.dirname(SELF), "..")
const BIN = path.join(ROOT, "bin", "clawgate.mjs")
const HOST = "127.0.0.1"

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(name)
const opt = (name, dflt) => {
  const i = argv.indexOf(name)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt
}
/** --only fg: run just the named benchmarks (letters a-k); all of them by default. */
const want = (key) => (opt("--only") ?? "abcdefghijk").includes(key)

// ---------------------------------------------------------------- shared client bits

/**
 * `count` connections, at most 16 handshakes at a time: the Gateway allows 32 unauthenticated
 * connections per client address (gateway.limits.unauthenticatedPerAddress), and these all come
 * from 127.0.0.1. The raw ws server gets them the same way.
 */
const inBatches = async (count, open) => {
  const out = []
  for (let i = 0; i < count; i += 16)
    out.push(...(await Promise.all(Array.from({ length: Math.min(16, count - i) }, (_, k) => open(i + k)))))
  return out
}

const connectFrame = (token, scopes = ["operator.read"]) =>
  JSON.stringify({
    type: "req",
    id: "c1",
    method: "connect",
    params: {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "bench", version: "0", platform: "linux", mode: "cli" },
      role: "operator",
      scopes,
      caps: [],
      auth: { token }
    }
  })

/** A request frame for request number n. For the echo server it is padded to `pad` bytes. */
const makeFrame = (kind, n, pad) => {
  const base = { type: "req", id: String(n), method: "health" }
  if (kind !== "echo" || !pad) return JSON.stringify(base)
  const bare = JSON.stringify({ ...base, pad: "" }).length
  return JSON.stringify({ ...base, pad: "x".repeat(Math.max(0, pad - bare)) })
}

/**
 * Open a client. kind "gateway": wait for connect.challenge, send connect, resolve on hello-ok.
 * kind "echo": resolve on open. Resolves to { ws, request(n) -> Promise<{bytes}> }; frames that
 * are not the awaited response (events such as presence/tick) are ignored.
 */
const openClient = (kind, url, token, pad, timeoutMs = 10_000, requestTimeoutMs = 0) =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    let pending = null // { id, resolve, reject }
    let ready = false
    const timer = setTimeout(() => fail(new Error(`${kind} client: handshake timeout`)), timeoutMs)
    const fail = (err) => {
      clearTimeout(timer)
      try {
        ws.terminate()
      } catch {}
      if (!ready) reject(err)
      else if (pending) {
        const p = pending
        pending = null
        p.reject(err)
      }
    }
    const api = {
      ws,
      request(n) {
        return new Promise((res, rej) => {
          pending = { id: String(n), resolve: res, reject: rej }
          if (requestTimeoutMs) {
            const t = setTimeout(() => {
              if (pending?.id === String(n)) fail(new Error(`${kind}: no answer to request ${n} within ${requestTimeoutMs} ms`))
            }, requestTimeoutMs)
            const done = () => clearTimeout(t)
            pending.resolve = (v) => {
              done()
              res(v)
            }
            pending.reject = (e) => {
              done()
              rej(e)
            }
          }
          ws.send(makeFrame(kind, n, pad))
        })
      },
      close() {
        try {
          ws.close()
        } catch {}
      }
    }
    ws.on("error", fail)
    ws.on("close", (code) => {
      if (!ready || pending) fail(new Error(`${kind} client: closed (${code})`))
    })
    ws.on("open", () => {
      if (kind === "echo") {
        ready = true
        clearTimeout(timer)
        resolve(api)
      }
    })
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString())
      if (!ready) {
        if (msg.type === "event" && msg.event === "connect.challenge") ws.send(connectFrame(token))
        else if (msg.type === "res" && msg.id === "c1") {
          if (msg.ok && msg.payload?.type === "hello-ok") {
            ready = true
            clearTimeout(timer)
            resolve(api)
          } else fail(new Error(`connect failed: ${JSON.stringify(msg.error ?? msg).slice(0, 300)}`))
        }
        return
      }
      // the gateway answers with a "res" frame; the echo server sends our "req" frame back
      if (!pending || msg.type !== (kind === "echo" ? "req" : "res") || msg.id !== pending.id) return
      const p = pending
      pending = null
      if (kind === "gateway" && !msg.ok) p.reject(new Error(`request failed: ${JSON.stringify(msg.error).slice(0, 300)}`))
      else p.resolve({ bytes: data.length })
    })
  })

/**
 * A client with any number of requests in flight (used by (f) and (g)), matched by id.
 * kind "gateway": operator handshake with `scopes`, awaits "res" frames, rejects on ok:false.
 * kind "echo": resolves on open, awaits our own "req" frame coming back.
 * send(id, text) -> Promise<{ msg, data }> where data is the raw frame received.
 */
const openRpc = (kind, url, { token = "", scopes, timeoutMs = 10_000, requestTimeoutMs = 10_000 } = {}) =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const pending = new Map() // id -> { resolve, reject, timer }
    let ready = false
    const timer = setTimeout(() => fail(new Error(`${kind} rpc client: handshake timeout`)), timeoutMs)
    const fail = (err) => {
      clearTimeout(timer)
      try {
        ws.terminate()
      } catch {}
      if (!ready) reject(err)
      for (const p of pending.values()) {
        clearTimeout(p.timer)
        p.reject(err)
      }
      pending.clear()
    }
    const api = {
      ws,
      send(id, text, { final = false } = {}) {
        return new Promise((res, rej) => {
          const t = setTimeout(() => fail(new Error(`${kind}: no answer to request ${id} within ${requestTimeoutMs} ms`)), requestTimeoutMs)
          pending.set(id, { resolve: res, reject: rej, timer: t, final })
          ws.send(text)
        })
      },
      /** The final answer of a request answered twice (`agent`: accepted, then the run's end). */
      sendFinal(id, text) {
        return api.send(id, text, { final: true })
      },
      close() {
        try {
          ws.close()
        } catch {}
      }
    }
    ws.on("error", fail)
    ws.on("close", (code) => {
      if (!ready || pending.size) fail(new Error(`${kind} rpc client: closed (${code})`))
    })
    ws.on("open", () => {
      if (kind === "echo") {
        ready = true
        clearTimeout(timer)
        resolve(api)
      }
    })
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString())
      if (!ready) {
        if (msg.type === "event" && msg.event === "connect.challenge") ws.send(connectFrame(token, scopes))
        else if (msg.type === "res" && msg.id === "c1") {
          if (msg.ok && msg.payload?.type === "hello-ok") {
            ready = true
            clearTimeout(timer)
            resolve(api)
          } else fail(new Error(`connect failed: ${JSON.stringify(msg.error ?? msg).slice(0, 300)}`))
        }
        return
      }
      if (msg.type !== (kind === "echo" ? "req" : "res")) return
      const p = pending.get(msg.id)
      if (!p) return
      if (p.final && msg.ok && msg.payload?.status === "accepted") return
      pending.delete(msg.id)
      clearTimeout(p.timer)
      if (kind === "gateway" && !msg.ok) p.reject(new Error(`request ${msg.id} failed: ${JSON.stringify(msg.error).slice(0, 300)}`))
      else p.resolve({ msg, data })
    })
  })

// ---------------------------------------------------------------- child role: nodes

/**
 * --role nodes --url U --token T --count N: N node connections (role "node", signed Ed25519
 * device identity, command "bench.echo") that answer every node.invoke.request with
 * node.invoke.result { ok: true, payloadJSON: paramsJSON }. Prints one line
 * `nodes ready {"ids":[...],"connectMs":...}` once all are connected, then serves until SIGTERM.
 */
if (opt("--role") === "nodes") {
  const url = opt("--url")
  const token = opt("--token", "")
  const count = Number(opt("--count", "1"))
  setTimeout(
    () => {
      process.stderr.write("nodes: watchdog timeout\n")
      process.exit(3)
    },
    Number(opt("--ttl", "300000"))
  ).unref()
  process.on("SIGTERM", () => process.exit(0))
  let rejected = 0
  const connectNode = (n) =>
    new Promise((resolve, reject) => {
      const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519")
      const pub = publicKey.export({ format: "jwk" }).x // raw 32 bytes, base64url
      const id = crypto.createHash("sha256").update(Buffer.from(pub, "base64url")).digest("hex")
      const ws = new WebSocket(url, { perMessageDeflate: false })
      let ready = false
      let seq = 0
      const timer = setTimeout(() => fail(new Error(`node ${n}: handshake timeout`)), 20_000)
      const fail = (err) => {
        clearTimeout(timer)
        try {
          ws.terminate()
        } catch {}
        if (!ready) reject(err)
        else {
          process.stderr.write(`nodes: node ${n} lost: ${err.message}\n`)
          process.exit(4)
        }
      }
      ws.on("error", fail)
      ws.on("close", (code) => fail(new Error(`node ${n}: closed (${code})`)))
      ws.on("message", (data) => {
        const msg = JSON.parse(data.toString())
        if (ready) {
          if (msg.type === "event" && msg.event === "node.invoke.request") {
            const p = msg.payload
            ws.send(
              JSON.stringify({
                type: "req",
                id: `r${++seq}`,
                method: "node.invoke.result",
                params: { id: p.id, nodeId: id, ok: true, payloadJSON: p.paramsJSON }
              })
            )
          } else if (msg.type === "res" && !msg.ok && rejected++ < 3) {
            process.stderr.write(`nodes: node.invoke.result rejected: ${JSON.stringify(msg.error).slice(0, 300)}\n`)
          }
          return
        }
        if (msg.type === "event" && msg.event === "connect.challenge") {
          const nonce = msg.payload.nonce
          const signedAt = Date.now()
          const text = `v3|${id}|node-host|node|node||${signedAt}|${token}|${nonce}|linux|linux`
          const signature = crypto.sign(null, Buffer.from(text), privateKey).toString("base64url")
          ws.send(
            JSON.stringify({
              type: "req",
              id: "c1",
              method: "connect",
              params: {
                minProtocol: 4,
                maxProtocol: 4,
                client: {
                  id: "node-host",
                  version: "1",
                  platform: "linux",
                  deviceFamily: "Linux",
                  mode: "node",
                  displayName: `bench-${n}`
                },
                role: "node",
                scopes: [],
                caps: [],
                commands: ["bench.echo"],
                auth: { token },
                device: { id, publicKey: pub, signature, signedAt, nonce }
              }
            })
          )
        } else if (msg.type === "res" && msg.id === "c1") {
          if (msg.ok && msg.payload?.type === "hello-ok") {
            ready = true
            clearTimeout(timer)
            resolve(id)
          } else fail(new Error(`node ${n}: connect failed: ${JSON.stringify(msg.error ?? msg).slice(0, 300)}`))
        }
      })
    })
  const t0 = performance.now()
  try {
    const ids = await inBatches(count, (i) => connectNode(i + 1))
    process.stdout.write(`nodes ready ${JSON.stringify({ ids, connectMs: +(performance.now() - t0).toFixed(1) })}\n`)
  } catch (e) {
    process.stderr.write(`nodes: ${e.message}\n`)
    process.exit(2)
  }
}

// ---------------------------------------------------------------- child role: echo server
else if (opt("--role") === "echo") {
  const wss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false })
  wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })))
  wss.on("listening", () => process.stdout.write(`echo ready on ws://${HOST}:${wss.address().port}\n`))
  process.on("SIGTERM", () => process.exit(0))
}

// ---------------------------------------------------------------- child role: load generator
else if (opt("--role") === "load") {
  const kind = opt("--kind")
  const url = opt("--url")
  const token = opt("--token", "")
  const pad = Number(opt("--pad", "0"))
  const clients = Number(opt("--clients", "50"))
  const warmupMs = Number(opt("--warmup", "1000"))
  const durationMs = Number(opt("--duration", "3000"))
  // never outlive the orchestrator's expectations
  setTimeout(
    () => {
      process.stderr.write("load: watchdog timeout\n")
      process.exit(3)
    },
    warmupMs + durationMs + 20_000
  ).unref()
  const conns = await inBatches(clients, () => openClient(kind, url, token, pad))
  let counting = false
  let stop = false
  let count = 0
  let total = 0
  let errors = 0
  let seq = 0
  const loop = async (c) => {
    while (!stop) {
      try {
        await c.request(++seq)
        total++
        if (counting) count++
      } catch (e) {
        errors++
        if (errors === 1) process.stderr.write(`load: ${e.message}\n`)
        if (c.ws.readyState !== WebSocket.OPEN) return
      }
    }
  }
  const loops = conns.map(loop)
  await new Promise((r) => setTimeout(r, warmupMs))
  counting = true
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, durationMs))
  counting = false
  const elapsed = performance.now() - t0
  stop = true
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 2000))])
  for (const c of conns) c.close()
  process.stdout.write(JSON.stringify({ count, total, errors, elapsedMs: elapsed, rps: (count * 1000) / elapsed }) + "\n")
  setTimeout(() => process.exit(0), 50)
}

// ---------------------------------------------------------------- child role: crowd

/**
 * --role crowd --kind gateway|echo --url U --token T --count N --batch B --first F --addresses K:
 * N connections that connect and then stay idle, opened B at a time, each from one of K loopback
 * source addresses (127.0.<F+i/250>.<i%250+1>, so no address holds more than a few unauthenticated
 * connections at once). A gateway connection is an operator in mode "ui" (it appears in presence,
 * as a Control UI or an app would) with operator.read; it counts as connected at hello-ok. An echo
 * connection counts at open. Frames received after that are not parsed. Prints
 * `crowd ready {"connected":N,"failed":F,"ms":T}` and holds the connections until SIGTERM.
 */
else if (opt("--role") === "crowd") {
  const kind = opt("--kind")
  const url = opt("--url")
  const token = opt("--token", "")
  const count = Number(opt("--count", "1000"))
  const batch = Number(opt("--batch", "200"))
  const first = Number(opt("--first", "0"))
  const addresses = Number(opt("--addresses", "40"))
  setTimeout(
    () => {
      process.stderr.write("crowd: watchdog timeout\n")
      process.exit(3)
    },
    Number(opt("--ttl", "240000"))
  ).unref()
  process.on("SIGTERM", () => process.exit(0))
  const held = []
  const hello = Buffer.from('{"type":"res","id":"c1","ok":true')
  const connectOne = (i) =>
    new Promise((resolve) => {
      const a = first + (i % addresses)
      const localAddress = `127.0.${1 + Math.floor(a / 250)}.${(a % 250) + 1}`
      // The crowd stands in for clients on other machines: it reads what it is sent, but spends as little
      // of this machine's CPU on it as it can (no UTF-8 check of frames it never looks at).
      const ws = new WebSocket(url, { perMessageDeflate: false, localAddress, maxPayload: 64 * 1024 * 1024, skipUTF8Validation: true })
      let ready = false
      const timer = setTimeout(() => done(false), 30_000)
      const done = (ok) => {
        if (ready) return
        ready = true
        clearTimeout(timer)
        if (ok) held.push(ws)
        else
          try {
            ws.terminate()
          } catch {}
        resolve(ok)
      }
      ws.on("error", () => done(false))
      ws.on("close", () => done(false))
      if (kind === "echo") ws.on("open", () => done(true))
      else
        ws.on("message", (data) => {
          if (ready) return
          if (data.length >= hello.length && data.subarray(0, hello.length).equals(hello)) return done(true)
          const msg = JSON.parse(data.toString())
          if (msg.event === "connect.challenge") {
            ws.send(
              JSON.stringify({
                type: "req",
                id: "c1",
                method: "connect",
                params: {
                  minProtocol: 4,
                  maxProtocol: 4,
                  client: { id: "bench-crowd", version: "0", platform: "linux", mode: "ui", instanceId: crypto.randomUUID() },
                  role: "operator",
                  scopes: ["operator.read"],
                  caps: [],
                  auth: { token }
                }
              })
            )
          } else if (msg.type === "res" && msg.id === "c1") {
            if (!msg.ok) process.stderr.write(`crowd: connect refused: ${JSON.stringify(msg.error).slice(0, 200)}\n`)
            done(msg.ok === true)
          }
        })
    })
  const t0 = performance.now()
  let connected = 0
  for (let i = 0; i < count; i += batch) {
    const oks = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, k) => connectOne(i + k)))
    connected += oks.filter(Boolean).length
  }
  process.stdout.write(
    `crowd ready ${JSON.stringify({ connected, failed: count - connected, ms: +(performance.now() - t0).toFixed(0) })}\n`
  )
}

// ---------------------------------------------------------------- orchestrator
else await main()

async function main() {
  const JSON_MODE = flag("--json")
  const STRICT = flag("--strict")
  const out = (s) => (JSON_MODE ? process.stderr : process.stdout).write(s + "\n")
  const children = new Set()
  const tmpDirs = []
  const TOKEN = "bench-" + Math.random().toString(36).slice(2)

  if (!fs.existsSync(path.join(ROOT, "dist", "bin.cjs"))) {
    out("dist/ is missing: run `node scripts/build.mjs` (or `npm run bench`) first")
    process.exit(2)
  }

  // ---- process management
  const mkTmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "clawgate-bench-"))
    tmpDirs.push(d)
    return d
  }
  const killChild = async (child, graceMs = 2000) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child)
      return
    }
    const exited = once(child, "exit")
    try {
      process.kill(child.pid, "SIGTERM")
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(child.pid, "SIGKILL")
      } catch {}
    }, graceMs)
    await exited
    clearTimeout(t)
    children.delete(child)
  }
  const killAllSync = () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null)
        try {
          process.kill(c.pid, "SIGKILL")
        } catch {}
    }
    children.clear()
    for (const d of tmpDirs)
      try {
        fs.rmSync(d, { recursive: true, force: true })
      } catch {}
    tmpDirs.length = 0
  }
  process.on("exit", killAllSync)
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
    process.on(sig, () => {
      killAllSync()
      process.exit(130)
    })

  /** Spawn a child; keep the last lines of its output for error messages. */
  const start = (cmd, args, env = {}) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    children.add(child)
    child.tail = []
    const keep = (chunk) => {
      for (const line of chunk.toString().split("\n")) if (line) child.tail.push(line)
      if (child.tail.length > 40) child.tail.splice(0, child.tail.length - 40)
    }
    child.stdout.on("data", keep)
    child.stderr.on("data", keep)
    child.on("exit", () => children.delete(child))
    return child
  }
  /** Resolve with the regex match of the first stdout line matching `re`. */
  const waitLine = (child, re, timeoutMs = 20_000) =>
    new Promise((resolve, reject) => {
      let buf = ""
      const onData = (chunk) => {
        buf += chunk.toString()
        const m = buf.match(re)
        if (m) {
          done()
          resolve(m)
        }
      }
      const onExit = (code, sig) => {
        done()
        reject(new Error(`process exited (${code ?? sig}) before ready:\n  ${child.tail.join("\n  ")}`))
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timeout waiting for ready line:\n  ${child.tail.join("\n  ")}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        child.stdout.off("data", onData)
        child.off("exit", onExit)
      }
      child.stdout.on("data", onData)
      child.on("exit", onExit)
    })
  const GW_READY = /clawgate gateway ready on ws:\/\/127\.0\.0\.1:(\d+)/
  const startGateway = async () => {
    const stateDir = mkTmp()
    // --gateway-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof": profile the gateway under load
    const nodeArgs = (opt("--gateway-node-args") ?? "").split(" ").filter(Boolean)
    const child = start(process.execPath, [...nodeArgs, BIN, "gateway", "run", "--port", "0"], {
      CLAWGATE_STATE_DIR: stateDir,
      CLAWGATE_GATEWAY_TOKEN: TOKEN
    })
    const m = await waitLine(child, GW_READY)
    return { child, stateDir, url: `ws://${HOST}:${m[1]}` }
  }
  const startEcho = async () => {
    const child = start(process.execPath, [SELF, "--role", "echo"])
    const m = await waitLine(child, /echo ready on ws:\/\/127\.0\.0\.1:(\d+)/)
    return { child, url: `ws://${HOST}:${m[1]}` }
  }
  const startNodes = async (url, count) => {
    const child = start(process.execPath, [SELF, "--role", "nodes", "--url", url, "--token", TOKEN, "--count", String(count)])
    const m = await waitLine(child, /nodes ready (\{.*\})\n/, 30_000)
    return { child, ...JSON.parse(m[1]) }
  }
  /** Run a command to completion; resolves { ms, code, output }. */
  const timeRun = (cmd, args, env = {}) =>
    new Promise((resolve) => {
      const t0 = performance.now()
      const child = start(cmd, args, env)
      child.on("exit", (code) => resolve({ ms: performance.now() - t0, code, output: child.tail.join("\n") }))
    })
  let clkTck = 100
  try {
    clkTck = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
  } catch {}
  /** CPU time (user+system) a process has used so far, in ms. */
  const cpuMs = (pid) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clkTck // utime, stime
  }
  const rssKb = (pid) => {
    const s = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    return Number(s.match(/VmRSS:\s+(\d+)\s+kB/)[1])
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

  // ---- stats / reporting
  const quantile = (xs, q) => {
    const s = [...xs].sort((a, b) => a - b)
    if (!s.length) return NaN
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b)
    const n = s.length
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
  }
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : String(x))
  const results = {
    meta: {
      node: process.version,
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((x) => +x.toFixed(2)),
      startedAt: new Date().toISOString()
    },
    benchmarks: {}
  }
  const report = (key, title, r) => {
    results.benchmarks[key] = r
    out(`[${r.pass ? "PASS" : "MISS"}] (${key}) ${title}: ${r.line}`)
    if (r.note) out(`         ${r.note}`)
  }

  const t0All = performance.now()
  // Last resort against a hung gateway: abort (and clean up) after 8 minutes.
  setTimeout(() => {
    out("bench aborted: watchdog (8 min) expired")
    killAllSync()
    process.exit(1)
  }, 480_000).unref()
  out(`clawgate bench — node ${process.version}, ${os.cpus().length} CPUs, loadavg ${results.meta.loadavg.join(" ")}`)

  try {
    // Fresh gateway and echo server. Both are used for (e) first (idle RSS, as little history
    // as possible), then for (a), (b) and (d).
    const [gw, echo] = await Promise.all([startGateway(), startEcho()])

    // A few health calls (also learns the health response size used to pad echo frames).
    let healthBytes = 0
    {
      const c = await openClient("gateway", gw.url, TOKEN, 0, 10_000, 5000)
      for (let i = 0; i < 5; i++) healthBytes = Math.max(healthBytes, (await c.request(i + 1)).bytes)
      c.close()
      const e = await openClient("echo", echo.url, "", healthBytes, 10_000, 5000)
      for (let i = 0; i < 5; i++) await e.request(i + 1)
      e.close()
    }
    const PAD = healthBytes
    const reqBytes = makeFrame("gateway", 1000).length

    // ---- (e) idle RSS
    if (want("e")) {
      // CPU time over the idle 2 s too: an idle Gateway should not wake (nothing polls while idle).
      const cpu0 = cpuMs(gw.child.pid)
      await sleep(2000)
      const idleCpuMs = cpuMs(gw.child.pid) - cpu0
      const gwKb = rssKb(gw.child.pid)
      const echoKb = rssKb(echo.child.pid)
      const mb = (kb) => kb / 1024
      report("e", "idle RSS after start + 5 health calls + 2 s idle", {
        gatewayMB: +f(mb(gwKb)),
        echoMB: +f(mb(echoKb)),
        ratio: +f(gwKb / echoKb, 2),
        idleCpuMs,
        targetMB: 70,
        pass: mb(gwKb) < 70,
        line: `gateway ${f(mb(gwKb))} MB vs echo server ${f(mb(echoKb))} MB (${f(gwKb / echoKb, 2)}x) — target < 70 MB; ${f(idleCpuMs, 0)} ms of CPU in the 2 s idle`
      })
    }

    // ---- (k) the Control UI's first page: JS + CSS as the Gateway sends them, compressed
    if (want("k")) {
      const BUDGET = 150_000 // 150 KB compressed (issue 11)
      const origin = gw.url.replace(/^ws/, "http")
      /** One GET on a fresh connection: status, headers and the body's bytes exactly as they crossed the wire. */
      const get = (pathname, encoding) =>
        new Promise((resolve, reject) => {
          const req = http.get(
            `${origin}${pathname}`,
            { agent: false, headers: { "accept-encoding": encoding, connection: "close" } },
            (res) => {
              let bytes = 0
              const chunks = []
              res.on("data", (c) => {
                bytes += c.length
                chunks.push(c)
              })
              res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, bytes, body: Buffer.concat(chunks) }))
            }
          )
          req.on("error", reject)
        })
      const index = await get("/", "identity")
      if (index.status !== 200) throw new Error(`(k): GET / answered ${index.status}: ${index.body.toString().slice(0, 200)}`)
      // What the page loads before it runs: its stylesheets, module scripts and modulepreloads (not the icon).
      const html = index.body.toString("utf8")
      const firstPage = [...html.matchAll(/<(?:link rel="(?:stylesheet|modulepreload)" href|script type="module" src)="\.\/([^"]+)"/g)].map(
        (m) => m[1]
      )
      const sizes = { identity: 0, gzip: 0, br: 0 }
      for (const file of firstPage) {
        for (const encoding of Object.keys(sizes)) {
          const r = await get(`/${file}`, encoding)
          const sent = r.headers["content-encoding"] ?? "identity"
          if (r.status !== 200) throw new Error(`(k): GET /${file} answered ${r.status}`)
          // A file too small to gain from compression is sent as it is, and counted as sent.
          if (sent !== encoding && sent !== "identity") throw new Error(`(k): asked /${file} in ${encoding}, got ${sent}`)
          sizes[encoding] += r.bytes
        }
      }
      // The build's manifest names the same first page: a cross-check, not the measurement.
      let manifestNote = ""
      try {
        const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "dist", "ui", "manifest.json"), "utf8"))
        const same = [...manifest.firstPage].sort().join() === [...firstPage].sort().join()
        manifestNote = same
          ? "; the same files as dist/ui/manifest.json's firstPage"
          : `; manifest.json's firstPage differs: ${manifest.firstPage.join(", ")}`
      } catch {
        manifestNote = "; dist/ui/manifest.json unreadable"
      }
      const kb = (b) => f(b / 1000, 1)
      report("k", "Control UI first page JS+CSS, compressed, as served", {
        files: firstPage,
        identityBytes: sizes.identity,
        gzipBytes: sizes.gzip,
        brotliBytes: sizes.br,
        budgetBytes: BUDGET,
        ratioGzip: +f(sizes.gzip / BUDGET, 3),
        ratioBrotli: +f(sizes.br / BUDGET, 3),
        pass: firstPage.length > 0 && sizes.gzip <= BUDGET && sizes.br <= BUDGET,
        line: `gzip ${kb(sizes.gzip)} KB (${f(sizes.gzip / BUDGET, 3)}x), br ${kb(sizes.br)} KB (${f(sizes.br / BUDGET, 3)}x) of the 150 KB budget — target <= 1x`,
        note: `${firstPage.length} files (${firstPage.join(", ")}), ${kb(sizes.identity)} KB uncompressed${manifestNote}`
      })
    }

    // ---- (a) sequential round-trip latency over one connection
    if (want("a")) {
      const WARMUP = 500,
        ROUNDS = 16,
        PER_ROUND = 250
      const g = await openClient("gateway", gw.url, TOKEN)
      const e = await openClient("echo", echo.url, "", PAD)
      let n = 10
      const measure = async (c, count, into) => {
        for (let i = 0; i < count; i++) {
          const t = performance.now()
          await c.request(++n)
          into?.push(performance.now() - t)
        }
      }
      await measure(g, WARMUP)
      await measure(e, WARMUP)
      const gs = [],
        es = []
      // Alternate rounds so background noise hits both sides alike.
      const roundRatios = []
      for (let r = 0; r < ROUNDS; r++) {
        const gr = [],
          er = []
        if (r % 2 === 0) {
          await measure(g, PER_ROUND, gr)
          await measure(e, PER_ROUND, er)
        } else {
          await measure(e, PER_ROUND, er)
          await measure(g, PER_ROUND, gr)
        }
        gs.push(...gr)
        es.push(...er)
        roundRatios.push(quantile(gr, 0.5) / quantile(er, 0.5))
      }
      roundRatios.sort((x, y) => x - y)
      g.close()
      e.close()
      const gp50 = quantile(gs, 0.5),
        gp99 = quantile(gs, 0.99)
      const ep50 = quantile(es, 0.5),
        ep99 = quantile(es, 0.99)
      const ratio = gp50 / ep50
      report("a", `sequential health RTT, 1 connection, n=${gs.length}`, {
        gateway: { p50Ms: +f(gp50, 3), p99Ms: +f(gp99, 3) },
        echo: { p50Ms: +f(ep50, 3), p99Ms: +f(ep99, 3), frameBytes: PAD },
        ratioP50: +f(ratio, 2),
        ratioP99: +f(gp99 / ep99, 2),
        target: "p50 <= 1.5x echo",
        pass: ratio <= 1.5,
        line:
          `gateway p50 ${f(gp50, 3)} ms / p99 ${f(gp99, 3)} ms vs echo p50 ${f(ep50, 3)} ms / p99 ${f(ep99, 3)} ms` +
          ` — p50 ${f(ratio, 2)}x, p99 ${f(gp99 / ep99, 2)}x (target p50 <= 1.5x)`,
        perRoundP50Ratio: { min: +f(roundRatios[0], 2), median: +f(median(roundRatios), 2), max: +f(roundRatios.at(-1), 2) },
        note:
          `gateway: ${reqBytes} B request -> ${healthBytes} B response; echo: ${PAD} B frame each way; ` +
          `p50 ratio per round (${ROUNDS} x ${PER_ROUND}): min ${f(roundRatios[0], 2)} / median ${f(median(roundRatios), 2)} / max ${f(roundRatios.at(-1), 2)}`
      })
    }

    // ---- (b) throughput, 50 concurrent clients, load generator in its own process
    if (want("b")) {
      const CLIENTS = 50,
        WARMUP_MS = 1000,
        DURATION_MS = 3000,
        ROUNDS = 5
      const runLoad = async (kind, url, serverPid) => {
        const cpu0 = cpuMs(serverPid)
        const r = await timeRun(process.execPath, [
          SELF,
          "--role",
          "load",
          "--kind",
          kind,
          "--url",
          url,
          "--token",
          TOKEN,
          "--pad",
          String(PAD),
          "--clients",
          String(CLIENTS),
          "--warmup",
          String(WARMUP_MS),
          "--duration",
          String(DURATION_MS)
        ])
        const line = r.output
          .split("\n")
          .reverse()
          .find((l) => l.startsWith("{"))
        if (r.code !== 0 || !line) throw new Error(`load generator (${kind}) failed (exit ${r.code}):\n${r.output}`)
        const res = JSON.parse(line)
        res.serverCpuUsPerReq = ((cpuMs(serverPid) - cpu0) * 1000) / res.total
        return res
      }
      const gr = [],
        er = [],
        gCpu = [],
        eCpu = [],
        gRss = []
      let gErrors = 0
      for (let r = 0; r < ROUNDS; r++) {
        const pair = r % 2 === 0 ? ["gateway", "echo"] : ["echo", "gateway"]
        for (const kind of pair) {
          if (kind === "gateway") {
            const res = await runLoad(kind, gw.url, gw.child.pid)
            gr.push(res.rps)
            gCpu.push(res.serverCpuUsPerReq)
            gErrors += res.errors
            gRss.push(rssKb(gw.child.pid) / 1024)
          } else {
            const res = await runLoad(kind, echo.url, echo.child.pid)
            er.push(res.rps)
            eCpu.push(res.serverCpuUsPerReq)
          }
        }
      }
      const g = median(gr),
        e = median(er),
        ratio = g / e
      report("b", `throughput, ${CLIENTS} clients, ${DURATION_MS / 1000} s x ${ROUNDS} rounds`, {
        gatewayRps: Math.round(g),
        echoRps: Math.round(e),
        gatewayRounds: gr.map(Math.round),
        echoRounds: er.map(Math.round),
        gatewayErrors: gErrors,
        ratio: +f(ratio, 2),
        serverCpuUsPerRequest: { gateway: +f(median(gCpu)), echo: +f(median(eCpu)) },
        gatewayRssAfterRoundsMB: gRss.map((x) => +f(x)),
        target: ">= 0.6x echo",
        pass: ratio >= 0.6 && gErrors === 0,
        line:
          `gateway ${Math.round(g)} req/s vs echo ${Math.round(e)} req/s — ${f(ratio, 2)}x (target >= 0.6x)` +
          (gErrors ? ` — ${gErrors} FAILED requests` : ""),
        note:
          `rounds gateway [${gr.map(Math.round).join(", ")}] echo [${er.map(Math.round).join(", ")}]; ` +
          `server CPU per request: gateway ${f(median(gCpu))} µs vs echo ${f(median(eCpu))} µs ` +
          `(${f(median(gCpu) / median(eCpu), 2)}x); gateway RSS after each round [${gRss.map((x) => f(x, 0)).join(", ")}] MB`
      })
    }

    // ---- (d) one-shot CLI health against the running gateway
    if (want("d")) {
      const RUNS = 7
      const cli = [],
        bare = []
      const cliEnv = { CLAWGATE_STATE_DIR: gw.stateDir }
      // one untimed run of each to warm the OS file cache
      await timeRun(process.execPath, ["-e", "0"])
      await timeRun(process.execPath, [BIN, "gateway", "health", "--url", gw.url, "--token", TOKEN], cliEnv)
      for (let i = 0; i < RUNS; i++) {
        const r = await timeRun(process.execPath, [BIN, "gateway", "health", "--url", gw.url, "--token", TOKEN], cliEnv)
        if (r.code !== 0) throw new Error(`clawgate gateway health exited ${r.code}:\n${r.output}`)
        cli.push(r.ms)
        bare.push((await timeRun(process.execPath, ["-e", "0"])).ms)
      }
      // The same command without the compile cache (bin/compile-cache.cjs): what a first run after an upgrade costs.
      const uncached = []
      for (let i = 0; i < 3; i++) {
        uncached.push(
          (
            await timeRun(process.execPath, [BIN, "gateway", "health", "--url", gw.url, "--token", TOKEN], {
              ...cliEnv,
              CLAWGATE_COMPILE_CACHE: "0"
            })
          ).ms
        )
      }
      const c = median(cli),
        b = median(bare)
      report("d", `one-shot CLI \`gateway health\`, median of ${RUNS}`, {
        cliMs: +f(c),
        bareNodeMs: +f(b),
        ratio: +f(c / b, 2),
        cliRunsMs: cli.map((x) => +f(x)),
        uncachedMs: +f(median(uncached)),
        targetMs: 250,
        pass: c < 250,
        line: `${f(c)} ms vs bare \`node -e 0\` ${f(b)} ms (${f(c / b, 2)}x, +${f(c - b)} ms) — target < 250 ms`,
        note: `runs [${cli.map((x) => f(x, 0)).join(", ")}] ms; without the compile cache ${f(median(uncached))} ms (median of 3)`
      })
    }

    // ---- (f) and (g): node.invoke through the gateway vs two hops of raw ws echo.
    // Gateway side: operator (this process) -> gateway -> node (--role nodes child) -> gateway -> operator.
    // Echo side: operator -> echo A (the echo server above) -> operator -> echo B (a second echo
    // child) -> operator. Three processes each, every frame crosses loopback four times.
    const echoB = await startEcho()
    let invokeSeq = 0
    const RUN = Math.random().toString(36).slice(2, 8)
    const invokeFrame = (id, nodeId) =>
      JSON.stringify({
        type: "req",
        id,
        method: "node.invoke",
        params: {
          nodeId,
          command: "bench.echo",
          params: { seq: id, text: "hello node" },
          timeoutMs: 10_000,
          idempotencyKey: `bench-${RUN}-${id}`
        }
      })
    const checkInvoke = ({ msg }, nodeId, id) => {
      const p = msg.payload
      if (!p?.ok || p.nodeId !== nodeId || p.command !== "bench.echo" || p.payload?.seq !== id) {
        throw new Error(`unexpected node.invoke answer: ${JSON.stringify(msg).slice(0, 300)}`)
      }
    }
    const opScopes = ["operator.write"]

    // ---- (f) sequential node.invoke round trip, one operator connection, one node connection
    if (want("f")) {
      const WARMUP = 300,
        ROUNDS = 16,
        PER_ROUND = 250
      const nodes = await startNodes(gw.url, 1)
      const nodeId = nodes.ids[0]
      const op = await openRpc("gateway", gw.url, { token: TOKEN, scopes: opScopes })
      // learn the size of the operator's answer, to pad echo frames to it (as in (a))
      const id = `f${++invokeSeq}`
      const first = await op.send(id, invokeFrame(id, nodeId))
      checkInvoke(first, nodeId, id)
      const resBytes = first.data.length
      const opReqBytes = invokeFrame(id, nodeId).length
      const a = await openRpc("echo", echo.url)
      const b = await openRpc("echo", echoB.url)
      const echoFrame = (id) => {
        const base = { type: "req", id, method: "node.invoke", pad: "" }
        return JSON.stringify({ ...base, pad: "x".repeat(Math.max(0, resBytes - JSON.stringify(base).length)) })
      }
      const gwOnce = async () => {
        const id = `f${++invokeSeq}`
        const t = performance.now()
        const r = await op.send(id, invokeFrame(id, nodeId))
        const ms = performance.now() - t
        checkInvoke(r, nodeId, id)
        return ms
      }
      const echoOnce = async () => {
        const id = `f${++invokeSeq}`
        const t = performance.now()
        const r1 = await a.send(id, echoFrame(id))
        await b.send(r1.msg.id, r1.data.toString()) // the echoed frame, through the second hop
        return performance.now() - t
      }
      const measure = async (fn, count, into) => {
        for (let i = 0; i < count; i++) {
          const ms = await fn()
          into?.push(ms)
        }
      }
      await measure(gwOnce, WARMUP)
      await measure(echoOnce, WARMUP)
      const gs = [],
        es = [],
        roundRatios = [],
        gRoundP50 = []
      let gwCpu = 0
      for (let r = 0; r < ROUNDS; r++) {
        const gr = [],
          er = []
        const runGw = async () => {
          const c = cpuMs(gw.child.pid)
          await measure(gwOnce, PER_ROUND, gr)
          gwCpu += cpuMs(gw.child.pid) - c
        }
        if (r % 2 === 0) {
          await runGw()
          await measure(echoOnce, PER_ROUND, er)
        } else {
          await measure(echoOnce, PER_ROUND, er)
          await runGw()
        }
        gs.push(...gr)
        es.push(...er)
        gRoundP50.push(quantile(gr, 0.5))
        roundRatios.push(quantile(gr, 0.5) / quantile(er, 0.5))
      }
      const sortedRatios = [...roundRatios].sort((x, y) => x - y)
      op.close()
      a.close()
      b.close()
      await killChild(nodes.child)
      const gp50 = quantile(gs, 0.5),
        gp99 = quantile(gs, 0.99)
      const ep50 = quantile(es, 0.5),
        ep99 = quantile(es, 0.99)
      const ratio = gp50 / ep50
      const cpuUs = (gwCpu * 1000) / gs.length
      report("f", `sequential node.invoke RTT (operator -> gateway -> node -> gateway -> operator), n=${gs.length}`, {
        gateway: { p50Ms: +f(gp50, 3), p99Ms: +f(gp99, 3) },
        echoTwoHops: { p50Ms: +f(ep50, 3), p99Ms: +f(ep99, 3), frameBytes: resBytes },
        ratioP50: +f(ratio, 2),
        ratioP99: +f(gp99 / ep99, 2),
        target: "p50 <= 1.5x two echo hops",
        pass: ratio <= 1.5,
        perRoundP50Ratio: { min: +f(sortedRatios[0], 2), median: +f(median(roundRatios), 2), max: +f(sortedRatios.at(-1), 2) },
        gatewayP50PerRoundMs: gRoundP50.map((x) => +f(x, 3)),
        gatewayCpuUsPerInvoke: +f(cpuUs),
        nodeConnectMs: nodes.connectMs,
        line:
          `gateway p50 ${f(gp50, 3)} ms / p99 ${f(gp99, 3)} ms vs two echo hops p50 ${f(ep50, 3)} ms / p99 ${f(ep99, 3)} ms` +
          ` — p50 ${f(ratio, 2)}x, p99 ${f(gp99 / ep99, 2)}x (target p50 <= 1.5x)`,
        note:
          `operator: ${opReqBytes} B request -> ${resBytes} B response; echo: ${resBytes} B frame on each hop; ` +
          `p50 ratio per round (${ROUNDS} x ${PER_ROUND}): min ${f(sortedRatios[0], 2)} / median ${f(median(roundRatios), 2)} / max ${f(sortedRatios.at(-1), 2)}; ` +
          `gateway p50 first/last round ${f(gRoundP50[0], 3)}/${f(gRoundP50.at(-1), 3)} ms; gateway CPU ${f(cpuUs)} µs per invoke`
      })
    }

    // ---- (g) fan-out: one operator, node.invoke to 100 nodes at once, wall time until all 100 answered
    if (want("g")) {
      const NODES = 100,
        WARMUP = 3,
        ROUNDS = 12
      const nodes = await startNodes(gw.url, NODES)
      const op = await openRpc("gateway", gw.url, { token: TOKEN, scopes: opScopes })
      const a = await openRpc("echo", echo.url)
      const bs = await Promise.all(Array.from({ length: NODES }, () => openRpc("echo", echoB.url)))
      let frameBytes = 0
      const gwRound = async () => {
        const t = performance.now()
        const calls = nodes.ids.map((nodeId) => {
          const id = `g${++invokeSeq}`
          return op.send(id, invokeFrame(id, nodeId)).then((r) => {
            checkInvoke(r, nodeId, id)
            frameBytes = Math.max(frameBytes, r.data.length)
          })
        })
        await Promise.all(calls)
        return performance.now() - t
      }
      // echo: each frame goes to echo A over the single operator connection, and when it is back,
      // on through its own connection to echo B (100 connections, like the 100 node connections)
      const echoRound = async () => {
        const t = performance.now()
        const calls = bs.map((b) => {
          const id = `g${++invokeSeq}`
          const base = { type: "req", id, method: "node.invoke", pad: "" }
          const text = JSON.stringify({ ...base, pad: "x".repeat(Math.max(0, frameBytes - JSON.stringify(base).length)) })
          return a.send(id, text).then((r) => b.send(r.msg.id, r.data.toString()))
        })
        await Promise.all(calls)
        return performance.now() - t
      }
      for (let i = 0; i < WARMUP; i++) {
        await gwRound()
        await echoRound()
      }
      const gw_ = [],
        ec = []
      let gwCpu = 0
      for (let r = 0; r < ROUNDS; r++) {
        const runGw = async () => {
          const c = cpuMs(gw.child.pid)
          gw_.push(await gwRound())
          gwCpu += cpuMs(gw.child.pid) - c
        }
        if (r % 2 === 0) {
          await runGw()
          ec.push(await echoRound())
        } else {
          ec.push(await echoRound())
          await runGw()
        }
      }
      op.close()
      a.close()
      for (const b of bs) b.close()
      await killChild(nodes.child)
      const g = median(gw_),
        e = median(ec),
        ratio = g / e
      const cpuUs = (gwCpu * 1000) / (ROUNDS * NODES)
      report("g", `fan-out node.invoke to ${NODES} nodes at once, 1 operator connection, median of ${ROUNDS}`, {
        gatewayMs: +f(g, 2),
        echoTwoHopsMs: +f(e, 2),
        gatewayInvokesPerSec: Math.round((NODES * 1000) / g),
        echoPerSec: Math.round((NODES * 1000) / e),
        ratio: +f(ratio, 2),
        gatewayRoundsMs: gw_.map((x) => +f(x, 2)),
        echoRoundsMs: ec.map((x) => +f(x, 2)),
        gatewayCpuUsPerInvoke: +f(cpuUs),
        nodesConnectMs: nodes.connectMs,
        target: "<= 2x two echo hops (soft target, not in the issue)",
        soft: true,
        pass: ratio <= 2,
        line:
          `gateway ${f(g, 1)} ms for ${NODES} invokes (${Math.round((NODES * 1000) / g)} invokes/s) vs two echo hops ${f(e, 1)} ms` +
          ` (${Math.round((NODES * 1000) / e)}/s) — ${f(ratio, 2)}x (soft target <= 2x)`,
        note:
          `rounds gateway [${gw_.map((x) => f(x, 0)).join(", ")}] echo [${ec.map((x) => f(x, 0)).join(", ")}] ms; ` +
          `gateway CPU ${f(cpuUs)} µs per invoke; ${NODES} nodes connected in ${f(nodes.connectMs, 0)} ms`
      })
      await killChild(echoB.child)
    }

    // ---- (h) agent turns through the Gateway with the offline model, 20 sessions at once,
    // against the health round trip on the same Gateway in the same run
    if (want("h")) {
      const SESSIONS = 20,
        WARMUP_MS = 1000,
        DURATION_MS = 4000,
        HEALTH_N = 600
      const op = await openRpc("gateway", gw.url, { token: TOKEN, scopes: ["operator.write"], requestTimeoutMs: 30_000 })
      let hSeq = 0
      const healthOnce = async () => {
        const id = `hh${++hSeq}`
        const t = performance.now()
        await op.send(id, JSON.stringify({ type: "req", id, method: "health" }))
        return performance.now() - t
      }
      for (let i = 0; i < 100; i++) await healthOnce()
      const hs = []
      for (let i = 0; i < HEALTH_N; i++) hs.push(await healthOnce())
      const healthP50 = quantile(hs, 0.5)
      let stopAt = 0,
        counting = false,
        done = 0
      const lat = []
      const RUNH = Math.random().toString(36).slice(2, 8)
      const session = async (n) => {
        let k = 0
        while (performance.now() < stopAt) {
          const id = `h${n}-${++k}`
          const t = performance.now()
          const r = await op.sendFinal(
            id,
            JSON.stringify({
              type: "req",
              id,
              method: "agent",
              params: { message: `turn ${k}`, idempotencyKey: `bench-${RUNH}-${id}`, sessionKey: `agent:main:bench-${n}` }
            })
          )
          if (r.msg.payload?.status !== "ok") throw new Error(`agent turn failed: ${JSON.stringify(r.msg).slice(0, 300)}`)
          if (counting) {
            done++
            lat.push(performance.now() - t)
          }
        }
      }
      const t0 = performance.now()
      stopAt = t0 + WARMUP_MS + DURATION_MS
      const warm = setTimeout(() => {
        counting = true
      }, WARMUP_MS)
      const c0 = cpuMs(gw.child.pid)
      let cWarm = c0
      setTimeout(() => {
        cWarm = cpuMs(gw.child.pid)
      }, WARMUP_MS)
      await Promise.all(Array.from({ length: SESSIONS }, (_, n) => session(n)))
      clearTimeout(warm)
      const elapsed = performance.now() - t0 - WARMUP_MS
      const cpuPerTurnMs = (cpuMs(gw.child.pid) - cWarm) / Math.max(1, done)
      const perSec = (done * 1000) / elapsed
      const overheadMs = 1000 / perSec
      op.close()
      report("h", `agent turns with the offline model, ${SESSIONS} sessions at once, ${DURATION_MS / 1000} s`, {
        turnsPerSec: +f(perSec),
        turns: done,
        turnLatencyP50Ms: +f(quantile(lat, 0.5), 2),
        turnLatencyP99Ms: +f(quantile(lat, 0.99), 2),
        healthP50Ms: +f(healthP50, 3),
        gatewayMsPerTurn: +f(overheadMs, 2),
        ratioToHealth: +f(overheadMs / healthP50, 1),
        gatewayCpuMsPerTurn: +f(cpuPerTurnMs, 2),
        target: "reported against health (no target in the issue)",
        pass: done > 0,
        line: `${f(perSec)} turns/s (${f(overheadMs, 2)} ms of Gateway time per turn) vs health p50 ${f(healthP50, 3)} ms — ${f(overheadMs / healthP50, 1)}x a health round trip`,
        note:
          `turn latency p50 ${f(quantile(lat, 0.5), 1)} ms / p99 ${f(quantile(lat, 0.99), 1)} ms with ${SESSIONS} sessions in flight; ` +
          `gateway CPU ${f(cpuPerTurnMs, 2)} ms per turn (each turn stores the message, the run and the reply in SQLite, synchronous=FULL)`
      })
    }

    await Promise.all([killChild(gw.child), killChild(echo.child)])

    // ---- (i)/(j): a crowd of clients. Each side (gateway, raw ws server) is a fresh process, the
    // clients come from crowd child processes, each from its own loopback source addresses.
    /** `count` clients in `procs` crowd processes, opened `batch` at a time in all; resolves when all are connected. */
    const startCrowd = async (kind, url, count, procs, batch, firstAddress) => {
      const per = Math.ceil(count / procs)
      return Promise.all(
        Array.from({ length: procs }, async (_, p) => {
          const child = start(process.execPath, [
            SELF,
            "--role",
            "crowd",
            "--kind",
            kind,
            "--url",
            url,
            "--token",
            TOKEN,
            "--count",
            String(per),
            "--batch",
            String(Math.ceil(batch / procs)),
            "--first",
            String(firstAddress + p * 40),
            "--addresses",
            "40"
          ])
          // The crowd stands in for clients on other machines: on this machine's two cores it runs at a lower
          // priority, so what is measured is the server (and the probe), not the server competing with its clients.
          try {
            os.setPriority(child.pid, 10)
          } catch {}
          const m = await waitLine(child, /crowd ready (\{.*\})\n/, 200_000)
          return { child, ...JSON.parse(m[1]) }
        })
      )
    }
    const freshServer = async (kind) => {
      const server = kind === "gateway" ? await startGateway() : await startEcho()
      // As in (e): a few requests, then a moment of idle, before the baseline RSS.
      const c = await openClient(kind, server.url, TOKEN, PAD, 10_000, 5000)
      for (let i = 0; i < 5; i++) await c.request(i + 1)
      c.close()
      await sleep(1000)
      return server
    }

    // ---- (i) 10,000 idle authenticated operator connections: RSS growth against a raw ws server
    if (want("i")) {
      const COUNT = Number(opt("--crowd", "10000")),
        PROCS = 4,
        BATCH = 400
      const side = async (kind) => {
        const server = await freshServer(kind)
        const before = rssKb(server.child.pid)
        const t0 = performance.now()
        const crowd = await startCrowd(kind, server.url, COUNT, PROCS, BATCH, 0)
        const connectMs = performance.now() - t0
        // Idle: whatever the connects set in motion (presence fan-out) has drained.
        await sleep(3000)
        const after = rssKb(server.child.pid)
        const cpu = cpuMs(server.child.pid)
        await Promise.all(crowd.map((c) => killChild(c.child)))
        await killChild(server.child)
        return {
          beforeMB: before / 1024,
          afterMB: after / 1024,
          growthMB: (after - before) / 1024,
          connected: crowd.reduce((n, c) => n + c.connected, 0),
          connectMs,
          cpuMs: cpu
        }
      }
      const g = await side("gateway")
      const e = await side("echo")
      const ratio = g.growthMB / e.growthMB
      report("i", `${COUNT} idle authenticated operator connections held`, {
        gateway: { ...g, perConnectionKB: +f((g.growthMB * 1024) / COUNT, 2) },
        echo: { ...e, perConnectionKB: +f((e.growthMB * 1024) / COUNT, 2) },
        ratio: +f(ratio, 2),
        target: "RSS growth <= 2x the raw ws server's",
        pass: ratio <= 2 && g.connected === COUNT && e.connected === COUNT,
        line:
          `gateway RSS +${f(g.growthMB)} MB (${f(g.beforeMB)} -> ${f(g.afterMB)}) vs raw ws server +${f(e.growthMB)} MB (${f(e.beforeMB)} -> ${f(e.afterMB)}) ` +
          `for ${g.connected}/${COUNT} connections — ${f(ratio, 2)}x (target <= 2x)`,
        note:
          `per connection: gateway ${f((g.growthMB * 1024) / COUNT, 2)} KB vs ${f((e.growthMB * 1024) / COUNT, 2)} KB; ` +
          `all connected in ${f(g.connectMs / 1000)} s (gateway, to hello-ok as mode "ui" with operator.read, so each is in presence) vs ${f(e.connectMs / 1000)} s (raw, to open); ` +
          `${PROCS} client processes, ${PROCS * 40} source addresses, ${BATCH} connects at a time`
      })
    }

    // ---- (j) a connect storm of 2,000 clients: a new client's time to hello-ok during it
    if (want("j")) {
      const COUNT = 2000,
        PROCS = 2,
        BATCH = 200
      const probeOnce = (kind, url) =>
        new Promise((resolve, reject) => {
          const t = performance.now()
          const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: "127.0.2.1", maxPayload: 64 * 1024 * 1024 })
          const timer = setTimeout(() => {
            ws.terminate()
            reject(new Error(`${kind} probe: no answer within 10 s`))
          }, 10_000)
          const done = () => {
            clearTimeout(timer)
            const ms = performance.now() - t
            ws.terminate()
            resolve(ms)
          }
          ws.on("error", (e) => {
            clearTimeout(timer)
            reject(e)
          })
          // The raw side: open, then one frame of a connect's size echoed back (as challenge + connect + hello).
          if (kind === "echo") ws.on("open", () => ws.send(connectFrame(TOKEN)))
          ws.on("message", (data) => {
            if (kind === "echo") return done()
            const msg = JSON.parse(data.toString())
            if (msg.event === "connect.challenge") ws.send(connectFrame(TOKEN))
            else if (msg.type === "res" && msg.id === "c1")
              msg.ok ? done() : reject(new Error(`probe refused: ${JSON.stringify(msg.error)}`))
          })
        })
      const side = async (kind) => {
        const server = await freshServer(kind)
        const quiet = []
        for (let i = 0; i < 20; i++) quiet.push(await probeOnce(kind, server.url))
        const during = []
        let storming = true
        const probing = (async () => {
          while (storming) {
            during.push(await probeOnce(kind, server.url))
            await sleep(5)
          }
        })()
        const t0 = performance.now()
        const cpu0 = cpuMs(server.child.pid)
        const crowd = await startCrowd(kind, server.url, COUNT, PROCS, BATCH, 200)
        const stormMs = performance.now() - t0
        const cpuPerConnectMs = (cpuMs(server.child.pid) - cpu0) / COUNT
        storming = false
        await probing
        await Promise.all(crowd.map((c) => killChild(c.child)))
        await killChild(server.child)
        return {
          connected: crowd.reduce((n, c) => n + c.connected, 0),
          stormMs,
          probes: during.length,
          p50Ms: quantile(during, 0.5),
          p99Ms: quantile(during, 0.99),
          quietP50Ms: quantile(quiet, 0.5),
          cpuPerConnectMs
        }
      }
      const g = await side("gateway")
      const e = await side("echo")
      report("j", `connect storm of ${COUNT} clients (${BATCH} at a time), a new client's time to hello-ok meanwhile`, {
        gateway: { ...g, p50Ms: +f(g.p50Ms, 1), p99Ms: +f(g.p99Ms, 1) },
        echo: { ...e, p50Ms: +f(e.p50Ms, 1), p99Ms: +f(e.p99Ms, 1) },
        ratioP99: +f(g.p99Ms / e.p99Ms, 2),
        target: "all get hello-ok; the new client's p99 < 250 ms",
        pass: g.connected === COUNT && g.p99Ms < 250,
        line:
          `${g.connected}/${COUNT} got hello-ok in ${f(g.stormMs / 1000, 2)} s; new client p50 ${f(g.p50Ms)} ms / p99 ${f(g.p99Ms)} ms (n=${g.probes}) ` +
          `vs raw ws server (open + one echo) p50 ${f(e.p50Ms)} ms / p99 ${f(e.p99Ms)} ms — p99 ${f(g.p99Ms / e.p99Ms, 2)}x (target p99 < 250 ms)`,
        note:
          `without a storm: gateway p50 ${f(g.quietP50Ms, 1)} ms, raw ${f(e.quietP50Ms, 1)} ms; the raw server's storm took ${f(e.stormMs / 1000, 2)} s; ` +
          `server CPU per connect: gateway ${f(g.cpuPerConnectMs, 2)} ms vs raw ${f(e.cpuPerConnectMs, 2)} ms; ` +
          `${PROCS} client processes, ${PROCS * 40} source addresses; every client is mode "ui" with operator.read, so each connect changes presence`
      })
    }

    // ---- (c) cold start: spawn -> first successful health over a raw ws client
    if (want("c")) {
      const RUNS = 5
      const cold = [],
        readyAt = [],
        bare = []
      const coldOnce = async () => {
        const stateDir = mkTmp()
        const t0 = performance.now()
        const child = start(process.execPath, [BIN, "gateway", "run", "--port", "0"], {
          CLAWGATE_STATE_DIR: stateDir,
          CLAWGATE_GATEWAY_TOKEN: TOKEN
        })
        try {
          const m = await waitLine(child, GW_READY)
          const tReady = performance.now() - t0
          const url = `ws://${HOST}:${m[1]}`
          for (;;) {
            try {
              const c = await openClient("gateway", url, TOKEN, 0, 2000, 2000)
              await c.request(1)
              const t = performance.now() - t0
              c.close()
              return { ms: t, readyMs: tReady }
            } catch (err) {
              if (performance.now() - t0 > 15_000) throw err
              await sleep(10)
            }
          }
        } finally {
          await killChild(child)
        }
      }
      await timeRun(process.execPath, ["-e", "0"])
      for (let i = 0; i < RUNS; i++) {
        const r = await coldOnce()
        cold.push(r.ms)
        readyAt.push(r.readyMs)
        bare.push((await timeRun(process.execPath, ["-e", "0"])).ms)
      }
      const c = median(cold),
        b = median(bare)
      report("c", `cold start (spawn -> first health response), median of ${RUNS}`, {
        coldStartMs: +f(c),
        readyLineMs: +f(median(readyAt)),
        bareNodeMs: +f(b),
        ratio: +f(c / b, 2),
        runsMs: cold.map((x) => +f(x)),
        targetMs: 350,
        pass: c < 350,
        line: `${f(c)} ms (ready line at ${f(median(readyAt))} ms) vs bare \`node -e 0\` ${f(b)} ms (${f(c / b, 2)}x) — target < 350 ms`,
        note: `runs [${cold.map((x) => f(x, 0)).join(", ")}] ms`
      })
    }
  } catch (err) {
    out(`bench failed: ${err?.stack ?? err}`)
    for (const c of children)
      try {
        process.kill(c.pid, "SIGKILL")
      } catch {}
    process.exitCode = 1
    killAllSync()
    return
  }

  for (const c of [...children]) await killChild(c)
  killAllSync()
  const all = Object.values(results.benchmarks)
  const passed = all.filter((r) => r.pass).length
  results.meta.totalSeconds = +f((performance.now() - t0All) / 1000)
  results.meta.passed = passed
  results.meta.total = all.length
  out("summary:")
  for (const key of Object.keys(results.benchmarks).sort()) {
    const r = results.benchmarks[key]
    out(`  ${r.pass ? "PASS" : "MISS"} (${key}) ${r.line}`)
  }
  const soft = all.filter((r) => r.soft && !r.pass).length
  out(`${passed}/${all.length} targets met${soft ? ` (${soft} soft miss)` : ""} — total ${f(results.meta.totalSeconds)} s`)
  if (JSON_MODE) process.stdout.write(JSON.stringify(results, null, 2) + "\n")
  // --strict: soft targets (g) are reported but never fail the run
  if (STRICT && all.some((r) => !r.pass && !r.soft)) process.exitCode = 1
}
