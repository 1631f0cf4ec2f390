/**
 * Generated frames for every phase of a connection, and a driver that throws
 * them at a real Gateway process and checks, after every batch, that the
 * process is alive and still answers `health` for another client.
 *
 * Used by test/fuzz (a bounded number of frames in `npm test`) and by
 * `npm run fuzz` (a million, with frames/s and RSS printed).
 */
import * as fs from "node:fs"
import { FastCheck as fc } from "effect"
import WebSocket from "ws"
import { ALL_SCOPES } from "../../src/protocol/frames.js"
import { signedText } from "../../src/protocol/device.js"
import { makeTestDevice, type TestDevice } from "./device.js"

/** Keys the Gateway's methods read, so generated params are often nearly right. */
const PARAM_KEYS = [
  "nodeId",
  "command",
  "params",
  "timeoutMs",
  "idempotencyKey",
  "requestId",
  "deviceId",
  "role",
  "scopes",
  "key",
  "sessionKey",
  "limit",
  "cursor",
  "maxBytes",
  "message",
  "agentId",
  "to",
  "channel",
  "runId",
  "search",
  "id",
  "ok",
  "payload",
  "payloadJSON",
  "error",
  "event",
  "approved",
  "approvalDecision",
  "probe",
  "deliver",
  "thinking"
]
const EXTRA_METHODS = ["connect", "node.invoke.result", "node.event", "config.set", "wake", "__proto__", "constructor", "toString"]

/** Strings of any code points (emoji, lone surrogates, controls), where ASCII alone would miss byte-length bugs. */
const text = (constraints: { maxLength?: number } = {}) => fc.string({ unit: "binary", ...constraints })
const smallJson = fc.jsonValue({ maxDepth: 4, stringUnit: "binary" })
/** A value nested from 1 to 20,000 levels, as text: some within the 64-level bound, most beyond it, some far beyond. */
const deepText = fc
  .oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 100, max: 20_000 }))
  .chain((d) => fc.constantFrom("[", '{"a":').map((open) => `${open.repeat(d)}0${(open === "[" ? "]" : "}").repeat(d)}`))

const paramsArb = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.constantFrom(...PARAM_KEYS), smallJson, { maxKeys: 6 }) },
  { weight: 2, arbitrary: smallJson },
  { weight: 1, arbitrary: fc.constant(undefined) }
)

export type FuzzFrame = { readonly text: string } | { readonly binary: Uint8Array }

const reqFrame = (methods: ReadonlyArray<string>) =>
  fc
    .record({
      id: fc.oneof(text({ maxLength: 12 }), fc.integer()),
      method: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...methods, ...EXTRA_METHODS) },
        { weight: 1, arbitrary: text({ maxLength: 30 }) }
      ),
      params: paramsArb
    })
    .map((r): FuzzFrame => ({ text: JSON.stringify({ type: "req", ...r }) }))

/** Any frame a peer could send once connected. */
export const connectedFrame = (methods: ReadonlyArray<string>): fc.Arbitrary<FuzzFrame> =>
  fc.oneof(
    { weight: 12, arbitrary: reqFrame(methods) },
    { weight: 1, arbitrary: fc.jsonValue({ stringUnit: "binary" }).map((v): FuzzFrame => ({ text: JSON.stringify(v) ?? "null" })) },
    { weight: 1, arbitrary: text({ maxLength: 200 }).map((text): FuzzFrame => ({ text })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...methods), deepText)
        .map(([method, deep]): FuzzFrame => ({ text: `{"type":"req","id":"d","method":${JSON.stringify(method)},"params":${deep}}` }))
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary): FuzzFrame => ({ binary })) }
  )

/** Connect params from right to wildly wrong; some authenticate. */
export const connectParamsArb = (token: string): fc.Arbitrary<unknown> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record(
        {
          minProtocol: fc.oneof(fc.constant(3), fc.constant(4), fc.integer(), smallJson),
          maxProtocol: fc.oneof(fc.constant(4), fc.integer(), smallJson),
          client: fc.oneof(
            fc.record({
              id: text({ maxLength: 300 }),
              version: text({ maxLength: 10 }),
              platform: fc.constantFrom("linux", "darwin", ""),
              mode: fc.constantFrom("cli", "ui", "node", "probe", "backend"),
              instanceId: fc.option(fc.uuid(), { nil: undefined })
            }),
            smallJson
          ),
          role: fc.oneof(fc.constantFrom("operator", "node"), smallJson, text({ maxLength: 80 })),
          scopes: fc.oneof(fc.array(fc.oneof(fc.constantFrom(...ALL_SCOPES), text({ maxLength: 20 })), { maxLength: 8 }), smallJson),
          caps: fc.array(text({ maxLength: 10 }), { maxLength: 4 }),
          commands: fc.array(text({ maxLength: 20 }), { maxLength: 8 }),
          auth: fc.oneof(
            fc.constant({ token }),
            fc.record({ token: text() }),
            fc.record({ password: text() }),
            fc.record({ deviceToken: text() }),
            smallJson
          ),
          device: fc.record({
            id: fc.hexaString({ maxLength: 64 }),
            publicKey: fc.base64String({ maxLength: 48 }),
            signature: fc.base64String({ maxLength: 90 }),
            signedAt: fc.integer(),
            nonce: text()
          })
        },
        { requiredKeys: [] }
      )
    },
    { weight: 1, arbitrary: smallJson },
    { weight: 1, arbitrary: deepText.map((t) => ({ raw: t })) }
  )

/** The first frame of a new connection: connect (right or wrong), another method, or no valid frame at all. */
export const firstFrame = (token: string, methods: ReadonlyArray<string>): fc.Arbitrary<FuzzFrame> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: connectParamsArb(token).map((params): FuzzFrame => {
        const raw = (params as { raw?: string } | null)?.raw
        return {
          text:
            raw !== undefined
              ? `{"type":"req","id":"c","method":"connect","params":${raw}}`
              : JSON.stringify({ type: "req", id: "c", method: "connect", params })
        }
      })
    },
    { weight: 1, arbitrary: connectedFrame(methods) }
  )

/** What a node could send: results and events with any params, and anything else. */
export const nodeFrame = (nodeId: string): fc.Arbitrary<FuzzFrame> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .record({
          method: fc.constantFrom("node.invoke.result", "node.event", "health", "node.invoke"),
          params: fc.oneof(
            fc.record(
              {
                id: text({ maxLength: 36 }),
                nodeId: fc.constantFrom(nodeId, "other"),
                ok: fc.boolean(),
                payload: smallJson,
                payloadJSON: fc.oneof(text(), fc.constant(null), deepText),
                error: smallJson
              },
              { requiredKeys: [] }
            ),
            fc.record(
              { event: text({ maxLength: 30 }), payload: smallJson, payloadJSON: fc.oneof(text(), deepText) },
              { requiredKeys: [] }
            ),
            smallJson
          )
        })
        .map((r): FuzzFrame => ({ text: JSON.stringify({ type: "req", id: "n", ...r }) }))
    },
    { weight: 1, arbitrary: connectedFrame(["node.invoke.result", "node.event"]) }
  )

// ---------------------------------------------------------------------------------------------
// The driver

export interface FuzzTarget {
  readonly url: string
  readonly token: string
  readonly pid: number
  readonly alive: () => boolean
}

export interface FuzzStats {
  frames: number
  batches: number
  connections: number
  /** Frames that got neither an answer nor a close within the batch's deadline. */
  unanswered: number
}

const LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.1.${i + 1}`)
let nextAddress = 0
const localAddress = () => LOCAL_ADDRESSES[nextAddress++ % LOCAL_ADDRESSES.length]!

interface Peer {
  readonly ws: WebSocket
  readonly frames: Array<any>
  /** Answers to the probe's own requests, by id. */
  readonly probes: Map<string, any>
  /** The last presence event, as received. */
  lastPresence: string
  answered: number
  closed: boolean
  readonly opened: Promise<void>
  readonly wait: (pred: () => boolean, ms: number) => Promise<boolean>
}

const open = (url: string): Peer => {
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: localAddress(), maxPayload: 64 * 1024 * 1024 })
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const w of [...waiters]) w()
  }
  const peer: Peer = {
    ws,
    frames: [],
    probes: new Map(),
    lastPresence: "",
    answered: 0,
    closed: false,
    opened: new Promise((resolve, reject) => {
      ws.once("open", () => resolve())
      ws.once("error", reject)
    }),
    wait: (pred, ms) =>
      new Promise((resolve) => {
        if (pred()) return resolve(true)
        const check = () => {
          if (pred()) done(true)
        }
        const done = (v: boolean) => {
          clearTimeout(t)
          waiters.delete(check)
          resolve(v)
        }
        const t = setTimeout(() => done(pred()), ms)
        waiters.add(check)
      })
  }
  ws.on("message", (data) => {
    let f: any
    try {
      f = JSON.parse(data.toString())
    } catch {
      f = { unparsable: true }
    }
    if (f.type === "res") peer.answered++
    if (typeof f.id === "string" && f.id.startsWith("probe-")) peer.probes.set(f.id, f)
    if (f.event === "presence") peer.lastPresence = data.toString()
    if (peer.frames.length < 64) peer.frames.push(f)
    wake()
  })
  ws.on("error", () => {})
  ws.on("close", () => {
    peer.closed = true
    wake()
  })
  return peer
}

const sendFrame = (peer: Peer, frame: FuzzFrame) => {
  if (peer.ws.readyState !== WebSocket.OPEN) return
  if ("text" in frame) peer.ws.send(frame.text)
  else peer.ws.send(frame.binary, { binary: true })
}

const connectFrame = (token: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: "req",
    id: "c1",
    method: "connect",
    params: {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "fuzz", version: "0", platform: "linux", mode: "backend" },
      role: "operator",
      scopes: ["operator.admin"],
      caps: [],
      auth: { token },
      ...extra
    }
  })

const challengeOf = (peer: Peer) => peer.frames.find((f) => f.event === "connect.challenge")?.payload?.nonce as string | undefined

/** A connection that completed connect with the frame `connect(nonce)` builds; undefined if it could not. */
const connected = async (target: FuzzTarget, connect: (nonce: string) => string): Promise<Peer | undefined> => {
  const peer = open(target.url)
  try {
    await peer.opened
  } catch {
    return undefined
  }
  if (!(await peer.wait(() => challengeOf(peer) !== undefined, 5_000))) return undefined
  peer.ws.send(connect(challengeOf(peer)!))
  const ok = await peer.wait(() => peer.frames.some((f) => f.id === "c1") || peer.closed, 5_000)
  return ok && peer.frames.find((f) => f.id === "c1")?.ok ? peer : undefined
}

/** An operator connection (admin). */
const operator = (target: FuzzTarget) => connected(target, () => connectFrame(target.token))

/** A node connection with its own device (auto-approved on loopback). */
const node = (target: FuzzTarget, device: TestDevice) =>
  connected(target, (nonce) => {
    const client = { id: "node-host", version: "1", platform: "linux", deviceFamily: "Linux", mode: "node" }
    const signedAt = Date.now()
    const text = signedText("v3", {
      deviceId: device.deviceId,
      clientId: client.id,
      clientMode: client.mode,
      role: "node",
      scopes: [],
      signedAtMs: signedAt,
      token: target.token,
      nonce,
      platform: client.platform,
      deviceFamily: client.deviceFamily
    })
    return JSON.stringify({
      type: "req",
      id: "c1",
      method: "connect",
      params: {
        minProtocol: 4,
        maxProtocol: 4,
        client,
        role: "node",
        scopes: [],
        caps: [],
        commands: ["fuzz.echo"],
        auth: { token: target.token },
        device: { id: device.deviceId, publicKey: device.publicKey, signature: device.sign(text), signedAt, nonce }
      }
    })
  })

/** Sends `frames` on `peer` and waits (up to `ms`) until each got an answer or the peer was closed. */
const throwAt = async (peer: Peer, frames: ReadonlyArray<FuzzFrame>, ms: number): Promise<number> => {
  const before = peer.answered
  for (const f of frames) sendFrame(peer, f)
  await peer.wait(() => peer.closed || peer.answered - before >= frames.length, ms)
  return peer.closed ? 0 : Math.max(0, frames.length - (peer.answered - before))
}

export interface Fuzzer {
  readonly methods: ReadonlyArray<string>
  readonly nodeId: string
  /** Throws one batch and checks the Gateway afterwards; rejects if it died or stopped answering. */
  readonly batch: (b: Batch) => Promise<void>
  readonly stats: FuzzStats
  readonly close: () => void
}

export interface Batch {
  readonly first: ReadonlyArray<FuzzFrame>
  readonly connected: ReadonlyArray<FuzzFrame>
  readonly node: ReadonlyArray<FuzzFrame>
}

export const batchArb = (token: string, methods: ReadonlyArray<string>, nodeId: string, size: number): fc.Arbitrary<Batch> => {
  const firsts = Math.max(1, Math.round(size * 0.04))
  const nodes = Math.max(1, Math.round(size * 0.06))
  return fc.record({
    first: fc.array(firstFrame(token, methods), { minLength: firsts, maxLength: firsts }),
    connected: fc.array(connectedFrame(methods), { minLength: size - firsts - nodes, maxLength: size - firsts - nodes }),
    node: fc.array(nodeFrame(nodeId), { minLength: nodes, maxLength: nodes })
  })
}

export const makeFuzzer = async (target: FuzzTarget): Promise<Fuzzer> => {
  const stats: FuzzStats = { frames: 0, batches: 0, connections: 0, unanswered: 0 }
  const probe = await operator(target)
  if (!probe) throw new Error("fuzz: the probe could not connect")
  const methods = (probe.frames.find((f) => f.id === "c1").payload.features.methods as Array<string>).filter((m) => m !== "connect")
  const device = makeTestDevice()
  let fuzzee = await operator(target)
  let nodePeer = await node(target, device)
  if (!fuzzee || !nodePeer) throw new Error("fuzz: the operator or node connection could not connect")
  let probeId = 0

  const check = async (after: string) => {
    if (!target.alive()) throw new Error(`the Gateway process died after ${after}`)
    const id = `probe-${++probeId}`
    probe.ws.send(JSON.stringify({ type: "req", id, method: "health" }))
    await probe.wait(() => probe.probes.has(id) || probe.closed, 10_000)
    const answered = probe.probes.get(id)?.ok === true
    probe.probes.delete(id)
    if (!answered) throw new Error(`health did not answer for another client after ${after} (alive: ${target.alive()})`)
    // Every tenth batch: events still flow (a newcomer's presence reaches the probe).
    if (stats.batches % 10 !== 0) return
    const instanceId = `fuzz-watch-${probeId}`
    const newcomer = await connected(target, () =>
      JSON.stringify({
        type: "req",
        id: "c1",
        method: "connect",
        params: {
          minProtocol: 4,
          maxProtocol: 4,
          client: { id: "fuzz-watch", version: "0", platform: "linux", mode: "ui", instanceId },
          role: "operator",
          scopes: ["operator.read"],
          caps: [],
          auth: { token: target.token }
        }
      })
    )
    stats.connections++
    const seen = await probe.wait(() => probe.lastPresence.includes(instanceId), 10_000)
    newcomer?.ws.terminate()
    if (!seen) throw new Error(`events stopped reaching operators after ${after}: no presence event named the newcomer`)
  }

  const batch = async (b: Batch) => {
    // Before connect: each frame on a new connection, a few at a time (within the per-address budget).
    for (let i = 0; i < b.first.length; i += 8) {
      await Promise.all(
        b.first.slice(i, i + 8).map(async (frame) => {
          const peer = open(target.url)
          stats.connections++
          try {
            await peer.opened
          } catch {
            return
          }
          await peer.wait(() => challengeOf(peer) !== undefined || peer.closed, 5_000)
          sendFrame(peer, frame)
          if (!(await peer.wait(() => peer.answered > 0 || peer.closed, 5_000))) stats.unanswered++
          peer.ws.terminate()
        })
      )
    }
    if (!fuzzee || fuzzee.closed) {
      fuzzee = await operator(target)
      stats.connections++
    }
    if (!nodePeer || nodePeer.closed) {
      nodePeer = await node(target, device)
      stats.connections++
    }
    if (fuzzee) stats.unanswered += await throwAt(fuzzee, b.connected, 10_000)
    if (nodePeer) stats.unanswered += await throwAt(nodePeer, b.node, 10_000)
    stats.frames += b.first.length + b.connected.length + b.node.length
    stats.batches++
    await check(`batch ${stats.batches}`)
  }

  return {
    methods,
    nodeId: device.deviceId,
    batch,
    stats,
    close: () => {
      for (const p of [probe, fuzzee, nodePeer]) p?.ws.terminate()
    }
  }
}

/** Resident set size of a process, in MB (Linux). */
export const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) / 1024 : NaN
}
