/**
 * Sessions in the Gateway's SQLite database (migration `0002_sessions`).
 *
 * Durability: the database runs WAL with `synchronous = FULL`, so a committed
 * transaction survives SIGKILL and power loss. `append` writes the entries,
 * the channel cursor and the run record in one transaction, so after a crash
 * they are all there or none is. Sequence numbers are assigned inside that
 * transaction; the SQLite client runs one transaction at a time, so two
 * appends to a session can never take the same `seq`. Every committed
 * creation, append, reset and removal is told to `changes` listeners (the
 * Gateway's session subscriptions) in commit order.
 *
 * It stays one file (about 400 lines): the row shapes, the statements
 * and the transactions that use them are one schema, read side by side.
 */
import { randomUUID } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer, Option } from "effect"
import {
  Sessions,
  SessionsError,
  type ChannelCursor,
  type EntryRole,
  type NewEntry,
  type RunRecord,
  type RunStatus,
  type SessionActivity,
  type SessionChange,
  type SessionInit,
  type SessionInfo,
  type SessionsService,
  type TranscriptEntry
} from "../services/Sessions.js"

interface SessionRow {
  key: string
  session_id: string
  agent_id: string
  channel: string | null
  peer: string | null
  label: string | null
  created_at: number
  updated_at: number
  message_count: number
  last_text: string | null
}

interface EntryRow {
  session_id: string
  seq: number
  run_id: string | null
  role: string
  text: string
  tool_name: string | null
  tool_call_id: string | null
  data: string | null
  channel: string | null
  sender: string | null
  ts: number
}

interface RunRow {
  run_id: string
  session_key: string
  session_id: string
  status: string
  accepted_at: number
  started_at: number | null
  ended_at: number | null
  summary: string | null
  deliver_channel: string | null
  deliver_to: string | null
  delivered_at: number | null
}

/** An optional column: a field only when it has a value. */
const opt = <K extends string, V>(name: K, value: V | null | undefined): { [P in K]?: V } =>
  (value === null || value === undefined ? {} : { [name]: value }) as { [P in K]?: V }

const toInfo = (r: SessionRow): SessionInfo => ({
  key: r.key,
  sessionId: r.session_id,
  agentId: r.agent_id,
  ...opt("channel", r.channel),
  ...opt("peer", r.peer),
  ...opt("label", r.label),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  messageCount: r.message_count,
  ...opt("lastText", r.last_text)
})

const toEntry = (r: EntryRow): TranscriptEntry => ({
  seq: r.seq,
  sessionId: r.session_id,
  ...opt("runId", r.run_id),
  role: r.role as EntryRole,
  text: r.text,
  ...opt("toolName", r.tool_name),
  ...opt("toolCallId", r.tool_call_id),
  ...(r.data === null ? {} : { data: JSON.parse(r.data) as unknown }),
  ...opt("channel", r.channel),
  ...opt("sender", r.sender),
  ts: r.ts
})

const toRun = (r: RunRow): RunRecord => ({
  runId: r.run_id,
  sessionKey: r.session_key,
  sessionId: r.session_id,
  status: r.status as RunStatus,
  acceptedAt: r.accepted_at,
  ...opt("startedAt", r.started_at),
  ...opt("endedAt", r.ended_at),
  ...opt("summary", r.summary),
  ...(r.deliver_channel !== null && r.deliver_to !== null ? { deliverTo: { channel: r.deliver_channel, to: r.deliver_to } } : {}),
  ...opt("deliveredAt", r.delivered_at)
})

const causeText = (e: { readonly message: string; readonly cause?: unknown }) => (e.cause instanceof Error ? e.cause.message : e.message)

/** SQL failures become `Storage` errors naming the operation; our own errors pass through. */
const storage =
  (operation: string) =>
  <E extends { readonly _tag: string; readonly message: string; readonly cause?: unknown }>(e: E): SessionsError =>
    e instanceof SessionsError
      ? e
      : new SessionsError({ reason: "Storage", message: `sessions store: cannot ${operation}: ${causeText(e)}`, cause: e })

const notFound = (key: string) => new SessionsError({ reason: "NotFound", message: `unknown session: ${key}` })

/** Runs whose status is final: their reply may be delivered. */
const FINAL: ReadonlyArray<RunStatus> = ["ok", "error", "aborted", "timeout"]

export const makeSessionsSql = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Told after every committed write to the sessions table: Health takes its snapshot again.
  const watchers = new Set<Effect.Effect<void>>()
  const changed = <A, E, R>(write: Effect.Effect<A, E, R>) =>
    Effect.tap(write, () => Effect.forEach(watchers, (notify) => notify, { discard: true }))
  const watch: SessionsService["watch"] = (notify) =>
    Effect.acquireRelease(
      Effect.sync(() => void watchers.add(notify)),
      () => Effect.sync(() => void watchers.delete(notify))
    )
  // Told each committed change itself (the Gateway's session subscriptions).
  const listeners = new Set<(change: SessionChange) => void>()
  const tell = (change: SessionChange) =>
    Effect.sync(() => {
      for (const listener of listeners) {
        try {
          listener(change)
        } catch {
          // A listener's bug is its own: the write is committed and the other listeners are told.
        }
      }
    })
  const changes: SessionsService["changes"] = (listener) =>
    Effect.acquireRelease(
      Effect.sync(() => void listeners.add(listener)),
      () => Effect.sync(() => void listeners.delete(listener))
    )

  /** A session's info; counts cover the current session id's user and assistant entries. */
  const selectInfo = sql`SELECT s.key, s.session_id, s.agent_id, s.channel, s.peer, s.label, s.created_at, s.updated_at,
      (SELECT COUNT(*) FROM transcript t
        WHERE t.session_id = s.session_id AND t.role IN ('user', 'assistant')) AS message_count,
      (SELECT t.text FROM transcript t
        WHERE t.session_id = s.session_id AND t.role IN ('user', 'assistant') ORDER BY t.seq DESC LIMIT 1) AS last_text
    FROM sessions s`

  const findInfo = (key: string) =>
    Effect.map(sql<SessionRow>`${selectInfo} WHERE s.key = ${key}`, (rows) => Option.map(Option.fromNullable(rows[0]), toInfo))

  const requireInfo = (key: string) =>
    Effect.flatMap(findInfo(key), Option.match({ onNone: () => Effect.fail(notFound(key)), onSome: Effect.succeed }))

  const upsertRun = (run: RunRecord) =>
    sql`INSERT INTO runs (run_id, session_key, session_id, status, accepted_at, started_at, ended_at, summary,
        deliver_channel, deliver_to, delivered_at)
      VALUES (${run.runId}, ${run.sessionKey}, ${run.sessionId}, ${run.status}, ${run.acceptedAt}, ${run.startedAt ?? null},
        ${run.endedAt ?? null}, ${run.summary ?? null}, ${run.deliverTo?.channel ?? null}, ${run.deliverTo?.to ?? null},
        ${run.deliveredAt ?? null})
      ON CONFLICT (run_id) DO UPDATE SET session_key = excluded.session_key, session_id = excluded.session_id,
        status = excluded.status, accepted_at = excluded.accepted_at, started_at = excluded.started_at,
        ended_at = excluded.ended_at, summary = excluded.summary, deliver_channel = excluded.deliver_channel,
        deliver_to = excluded.deliver_to, delivered_at = excluded.delivered_at`

  const upsertCursor = (c: ChannelCursor) =>
    sql`INSERT INTO channel_cursors (channel, account, value) VALUES (${c.channel}, ${c.account}, ${c.value})
      ON CONFLICT (channel, account) DO UPDATE SET value = excluded.value`

  const encodeData = (data: unknown, index: number) =>
    data === undefined
      ? Effect.succeed(null)
      : Effect.try({
          try: () => JSON.stringify(data) ?? null,
          catch: (cause) =>
            new SessionsError({
              reason: "Storage",
              message: `sessions store: cannot append: the data of entry ${index + 1} is not JSON (${(cause as Error).message})`,
              cause
            })
        })

  const ensureTx = Effect.fn("Sessions.ensure")(
    function* (key: string, init: SessionInit) {
      const now = Date.now()
      const inserted = yield* sql<{ key: string }>`INSERT INTO sessions (key, session_id, agent_id, channel, peer, label,
          created_at, updated_at)
        VALUES (${key}, ${randomUUID()}, ${init.agentId}, ${init.channel ?? null}, ${init.peer ?? null},
          ${init.label ?? null}, ${now}, ${now})
        ON CONFLICT (key) DO NOTHING RETURNING key`
      return { info: yield* requireInfo(key), created: inserted.length > 0 }
    },
    sql.withTransaction,
    Effect.mapError(storage("create a session")),
    changed
  )
  const ensure: SessionsService["ensure"] = (key, init) =>
    ensureTx(key, init).pipe(
      Effect.tap(({ created }) => (created ? tell({ _tag: "Created", key }) : Effect.void)),
      Effect.map(({ info }) => info)
    )

  const get: SessionsService["get"] = (key) => findInfo(key).pipe(Effect.mapError(storage("read a session")))

  const list: SessionsService["list"] = (options = {}) => {
    const search = options.search?.trim().toLowerCase()
    const where = search
      ? sql`WHERE instr(lower(s.key), ${search}) > 0 OR instr(lower(coalesce(s.label, '')), ${search}) > 0
          OR instr(lower(coalesce(s.peer, '')), ${search}) > 0 OR instr(lower(coalesce(s.channel, '')), ${search}) > 0`
      : sql``
    return sql<SessionRow>`${selectInfo} ${where} ORDER BY s.updated_at DESC, s.key LIMIT ${options.limit ?? -1}`.pipe(
      Effect.map((rows) => rows.map(toInfo)),
      Effect.mapError(storage("list sessions")),
      Effect.withSpan("Sessions.list")
    )
  }

  const history: SessionsService["history"] = Effect.fn("Sessions.history")(
    function* (key, options = {}) {
      const info = yield* requireInfo(key)
      const rows = yield* sql<EntryRow>`SELECT * FROM (
          SELECT * FROM transcript WHERE session_id = ${info.sessionId} ORDER BY seq DESC LIMIT ${options.limit ?? -1}
        ) ORDER BY seq`
      return rows.map(toEntry)
    },
    sql.withTransaction,
    Effect.mapError(storage("read a transcript"))
  )

  const appendTx = Effect.fn("Sessions.append")(
    function* (
      key: string,
      entries: ReadonlyArray<NewEntry>,
      options: { readonly cursor?: ChannelCursor | undefined; readonly run?: RunRecord | undefined } = {}
    ) {
      const now = Date.now()
      const rows = yield* sql<{ session_id: string }>`SELECT session_id FROM sessions WHERE key = ${key}`
      const [row] = rows
      if (row === undefined) return yield* notFound(key)
      const sessionId = row.session_id
      const last = yield* sql<{ last: number }>`SELECT COALESCE(MAX(seq), 0) AS last FROM transcript WHERE session_id = ${sessionId}`
      let seq = last[0]?.last ?? 0
      const stored: Array<TranscriptEntry> = []
      for (const [index, e] of entries.entries()) {
        const entry: NewEntry & { ts: number } = { ...e, ts: e.ts ?? now }
        seq += 1
        yield* sql`INSERT INTO transcript (session_id, seq, session_key, run_id, role, text, tool_name, tool_call_id, data,
            channel, sender, ts)
          VALUES (${sessionId}, ${seq}, ${key}, ${entry.runId ?? null}, ${entry.role}, ${entry.text}, ${entry.toolName ?? null},
            ${entry.toolCallId ?? null}, ${yield* encodeData(entry.data, index)}, ${entry.channel ?? null},
            ${entry.sender ?? null}, ${entry.ts})`
        stored.push({
          seq,
          sessionId,
          ...opt("runId", entry.runId),
          role: entry.role,
          text: entry.text,
          ...opt("toolName", entry.toolName),
          ...opt("toolCallId", entry.toolCallId),
          ...(entry.data === undefined ? {} : { data: entry.data }),
          ...opt("channel", entry.channel),
          ...opt("sender", entry.sender),
          ts: entry.ts
        })
      }
      if (options.cursor) yield* upsertCursor(options.cursor)
      if (options.run) yield* upsertRun(options.run)
      yield* sql`UPDATE sessions SET updated_at = ${now} WHERE key = ${key}`
      return stored
    },
    sql.withTransaction,
    Effect.mapError(storage("append to a transcript")),
    changed
  )
  const append: SessionsService["append"] = (key, entries, options) =>
    Effect.tap(appendTx(key, entries, options), (stored) =>
      stored.length > 0 ? tell({ _tag: "Appended", key, entries: stored }) : Effect.void
    )

  const resetTx = Effect.fn("Sessions.reset")(
    function* (key: string) {
      yield* requireInfo(key)
      yield* sql`UPDATE sessions SET session_id = ${randomUUID()}, updated_at = ${Date.now()} WHERE key = ${key}`
      return yield* requireInfo(key)
    },
    sql.withTransaction,
    Effect.mapError(storage("reset a session")),
    changed
  )
  const reset: SessionsService["reset"] = (key) => Effect.tap(resetTx(key), () => tell({ _tag: "Reset", key }))

  const removeTx = Effect.fn("Sessions.remove")(
    function* (key: string) {
      yield* sql`DELETE FROM transcript WHERE session_key = ${key}`
      yield* sql`DELETE FROM runs WHERE session_key = ${key}`
      const gone = yield* sql<{ key: string }>`DELETE FROM sessions WHERE key = ${key} RETURNING key`
      return gone.length > 0
    },
    sql.withTransaction,
    Effect.mapError(storage("remove a session")),
    changed
  )
  const remove: SessionsService["remove"] = (key) =>
    removeTx(key).pipe(
      Effect.flatMap((existed) => (existed ? tell({ _tag: "Deleted", key }) : Effect.void)),
      Effect.asVoid
    )

  const cursor: SessionsService["cursor"] = (channel, account) =>
    sql<{ value: string }>`SELECT value FROM channel_cursors WHERE channel = ${channel} AND account = ${account}`.pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => r.value)),
      Effect.mapError(storage("read a channel cursor"))
    )

  const setCursor: SessionsService["setCursor"] = (c) =>
    upsertCursor(c).pipe(Effect.asVoid, Effect.mapError(storage("store a channel cursor")))

  const putRun: SessionsService["putRun"] = (run) => upsertRun(run).pipe(Effect.asVoid, Effect.mapError(storage("store a run")))

  const getRun: SessionsService["getRun"] = (runId) =>
    sql<RunRow>`SELECT * FROM runs WHERE run_id = ${runId}`.pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRun)),
      Effect.mapError(storage("read a run"))
    )

  const failInterrupted: SessionsService["failInterrupted"] = Effect.fn("Sessions.failInterrupted")(
    function* (reason) {
      const now = Date.now()
      const open = yield* sql<RunRow>`SELECT * FROM runs WHERE status IN ('queued', 'running') ORDER BY accepted_at`
      if (open.length === 0) return []
      yield* sql`UPDATE runs SET status = 'error', summary = ${reason}, ended_at = ${now}
        WHERE status IN ('queued', 'running')`
      return open.map((r) => toRun({ ...r, status: "error", summary: reason, ended_at: now }))
    },
    sql.withTransaction,
    Effect.mapError(storage("fail interrupted runs"))
  )

  const undelivered: SessionsService["undelivered"] = sql<RunRow>`SELECT * FROM runs
      WHERE deliver_channel IS NOT NULL AND delivered_at IS NULL AND status IN ${sql.in(FINAL)}
      ORDER BY ended_at, accepted_at`.pipe(
    Effect.map((rows) => rows.map(toRun)),
    Effect.mapError(storage("list undelivered runs"))
  )

  const summary: SessionsService["summary"] = Effect.fn("Sessions.summary")(
    function* ({ recent }) {
      const counts = yield* sql<{
        agent_id: string
        n: number
      }>`SELECT agent_id, COUNT(*) AS n FROM sessions GROUP BY agent_id ORDER BY agent_id`
      const rows = yield* sql<{
        key: string
        agent_id: string
        channel: string | null
        updated_at: number
      }>`SELECT key, agent_id, channel, updated_at
        FROM (SELECT key, agent_id, channel, updated_at,
          ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY updated_at DESC, key) AS rank FROM sessions)
        WHERE rank <= ${recent} ORDER BY updated_at DESC, key`
      const activity = rows.map(
        (r): SessionActivity => ({ key: r.key, agentId: r.agent_id, updatedAt: r.updated_at, ...opt("channel", r.channel) })
      )
      return {
        count: counts.reduce((n, c) => n + c.n, 0),
        recent: activity.slice(0, recent),
        agents: counts.map((c) => ({ agentId: c.agent_id, count: c.n, recent: activity.filter((a) => a.agentId === c.agent_id) }))
      }
    },
    sql.withTransaction,
    Effect.mapError(storage("summarise sessions"))
  )

  return Sessions.of({
    summary,
    watch,
    changes,
    ensure,
    get,
    list,
    history,
    append,
    reset,
    remove,
    cursor,
    setCursor,
    putRun,
    getRun,
    failInterrupted,
    undelivered
  })
})

/** Sessions over the Gateway's SqlClient (see `DatabaseLive`, which applies the migrations). */
export const SessionsSql: Layer.Layer<Sessions, never, SqlClient.SqlClient> = Layer.effect(Sessions, makeSessionsSql)
