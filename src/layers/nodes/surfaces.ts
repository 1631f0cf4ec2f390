/**
 * Node command surfaces (`gateway.nodes.pairing.commandApproval: "approve"`): for each node, the commands an
 * operator approved and the request waiting for the ones it declares beyond them, kept in `node_surfaces`
 * so that both survive restarts. A node's connect is decided here (`reconcile`): commands approved before are
 * invokable, new ones are held in one request per node (the same requestId while the declared set is the
 * same, a new one when it changes), and a connect that declares nothing new clears a waiting request.
 */
import { randomUUID } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { nodePairApprovalScopes, type NodePairPending } from "../../protocol/methods/devices.js"
import type { NodeSession } from "../../services/NodeRegistry.js"

interface SurfaceRow {
  node_id: string
  approved_commands: string | null
  approved_at: number | null
  request_id: string | null
  pending_commands: string | null
  pending_meta: string | null
  pending_ts: number | null
}

/** What a request shows of the node besides its commands (from the connect that made it). */
interface PendingMeta {
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly version?: string | undefined
  readonly deviceFamily?: string | undefined
  readonly clientId?: string | undefined
  readonly caps?: ReadonlyArray<string> | undefined
  readonly remoteIp?: string | undefined
}

export interface Surface {
  readonly nodeId: string
  readonly approved: ReadonlyArray<string> | undefined
  readonly approvedAtMs: number | undefined
  readonly pending: NodePairPending | undefined
}

/** A node's connect, decided: what it may be asked to run now, what waits, and the request that holds it. */
export interface Reconciled {
  readonly effective: ReadonlyArray<string>
  readonly held: ReadonlyArray<string>
  readonly request: NodePairPending | undefined
  /** The request is new (or its command set changed): `node.pair.requested` is published. */
  readonly fresh: boolean
}

const list = (s: string | null): Array<string> | undefined => {
  if (s === null) return undefined
  try {
    const v = JSON.parse(s)
    return Array.isArray(v) ? v.map(String) : []
  } catch {
    return []
  }
}
const meta = (s: string | null): PendingMeta => {
  try {
    const v = s === null ? {} : JSON.parse(s)
    return typeof v === "object" && v !== null ? (v as PendingMeta) : {}
  } catch {
    return {}
  }
}

const sameSet = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((x) => b.includes(x))

const toSurface = (r: SurfaceRow): Surface => {
  const pendingCommands = list(r.pending_commands)
  const m = meta(r.pending_meta)
  return {
    nodeId: r.node_id,
    approved: list(r.approved_commands),
    approvedAtMs: r.approved_at ?? undefined,
    pending:
      r.request_id === null || pendingCommands === undefined
        ? undefined
        : {
            requestId: r.request_id,
            nodeId: r.node_id,
            ...(m.clientId !== undefined ? { clientId: m.clientId, clientMode: "node" } : {}),
            ...(m.displayName !== undefined ? { displayName: m.displayName } : {}),
            ...(m.platform !== undefined ? { platform: m.platform } : {}),
            ...(m.version !== undefined ? { version: m.version } : {}),
            ...(m.deviceFamily !== undefined ? { deviceFamily: m.deviceFamily } : {}),
            ...(m.caps !== undefined ? { caps: [...m.caps] } : {}),
            commands: pendingCommands,
            requiredApproveScopes: nodePairApprovalScopes(pendingCommands),
            ...(m.remoteIp !== undefined ? { remoteIp: m.remoteIp } : {}),
            silent: false,
            ts: r.pending_ts ?? 0
          }
  }
}

const failed = (what: string) => (e: SqlError) => GatewayError.unavailable(`node surfaces: cannot ${what}: ${e.message}`)

export const makeSurfaces = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const get = (nodeId: string) =>
    Effect.map(sql<SurfaceRow>`SELECT * FROM node_surfaces WHERE node_id = ${nodeId}`, (rows) =>
      rows[0] === undefined ? undefined : toSurface(rows[0])
    ).pipe(Effect.mapError(failed("read a node")))

  const byRequest = (requestId: string) =>
    Effect.map(sql<SurfaceRow>`SELECT * FROM node_surfaces WHERE request_id = ${requestId}`, (rows) =>
      rows[0] === undefined ? undefined : toSurface(rows[0])
    ).pipe(Effect.mapError(failed("find a request")))

  const all = Effect.map(sql<SurfaceRow>`SELECT * FROM node_surfaces ORDER BY pending_ts DESC`, (rows) => rows.map(toSurface)).pipe(
    Effect.mapError(failed("list"))
  )

  /** A connecting node's declared commands against what was approved for it. */
  const reconcile = (session: NodeSession, now: number) =>
    Effect.gen(function* () {
      const current = yield* get(session.nodeId)
      const approved = current?.approved ?? []
      const declared = [...new Set(session.commands)]
      const effective = declared.filter((c) => approved.includes(c))
      const held = declared.filter((c) => !approved.includes(c))
      if (held.length === 0) {
        if (current?.pending)
          yield* sql`UPDATE node_surfaces SET request_id = NULL, pending_commands = NULL, pending_meta = NULL, pending_ts = NULL WHERE node_id = ${session.nodeId}`
        return { effective, held, request: undefined, fresh: false } satisfies Reconciled
      }
      const same = current?.pending?.commands !== undefined && sameSet(current.pending.commands, declared)
      const requestId = same && current?.pending ? current.pending.requestId : randomUUID()
      const ts = same && current?.pending ? current.pending.ts : now
      const m: PendingMeta = {
        displayName: session.displayName,
        platform: session.platform,
        version: session.version,
        deviceFamily: session.deviceFamily,
        clientId: session.clientId,
        caps: session.caps,
        remoteIp: session.remoteIp
      }
      yield* sql`INSERT INTO node_surfaces (node_id, request_id, pending_commands, pending_meta, pending_ts)
        VALUES (${session.nodeId}, ${requestId}, ${JSON.stringify(declared)}, ${JSON.stringify(m)}, ${ts})
        ON CONFLICT (node_id) DO UPDATE SET request_id = excluded.request_id, pending_commands = excluded.pending_commands,
          pending_meta = excluded.pending_meta, pending_ts = excluded.pending_ts`
      const after = yield* get(session.nodeId)
      return { effective, held, request: after?.pending, fresh: !same } satisfies Reconciled
    }).pipe(
      sql.withTransaction,
      Effect.mapError((e) => (e instanceof GatewayError ? e : failed("record a node's commands")(e)))
    )

  /** The request's commands become the node's approved surface. */
  const approve = (requestId: string, now: number) =>
    Effect.gen(function* () {
      const s = yield* byRequest(requestId)
      if (!s?.pending) return undefined
      yield* sql`UPDATE node_surfaces SET approved_commands = ${JSON.stringify(s.pending.commands ?? [])}, approved_at = ${now},
        request_id = NULL, pending_commands = NULL, pending_meta = NULL, pending_ts = NULL WHERE node_id = ${s.nodeId}`
      return { ...s, approved: s.pending.commands ?? [], approvedAtMs: now }
    }).pipe(
      sql.withTransaction,
      Effect.mapError((e) => (e instanceof GatewayError ? e : failed("approve a request")(e)))
    )

  const reject = (requestId: string) =>
    Effect.gen(function* () {
      const s = yield* byRequest(requestId)
      if (!s?.pending) return undefined
      yield* sql`UPDATE node_surfaces SET request_id = NULL, pending_commands = NULL, pending_meta = NULL, pending_ts = NULL WHERE node_id = ${s.nodeId}`
      return s
    }).pipe(Effect.mapError((e) => (e instanceof GatewayError ? e : failed("reject a request")(e))))

  /** The node was unpaired: its approvals go with it. */
  const forget = (nodeId: string) =>
    sql`DELETE FROM node_surfaces WHERE node_id = ${nodeId}`.pipe(Effect.asVoid, Effect.mapError(failed("forget a node")))

  return { get, byRequest, all, reconcile, approve, reject, forget }
})

export type Surfaces = Effect.Effect.Success<typeof makeSurfaces>
