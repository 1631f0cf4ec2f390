/**
 * The open chat's transcript as the page holds it, and how what the Gateway
 * says is merged into it without losing or duplicating anything:
 *
 * - `entries`: what `chat.history` returned. Each entry is identified by
 *   (sessionId, seq): clawgate numbers a session's transcript from 1 in the
 *   order it was written, and a reset starts a new sessionId. Reloading
 *   history (after every reconnect) merges by that identity, so an entry
 *   seen twice is shown once and one missed while the socket was down
 *   appears.
 * - `outbox`: messages this page sent that history does not show yet, keyed
 *   by their idempotency key. The Gateway stores a user message with
 *   runId = idempotencyKey, so history's user entry with that runId
 *   replaces it. One whose send was cut off by a drop is "unconfirmed"
 *   until history says: never resent by itself; sending it again with the
 *   same key is safe (the Gateway answers a repeated key from its record).
 * - `runs`: replies streaming in from `chat` and `agent` events (broadcast
 *   to every operator connection, so a run keeps streaming to a page that
 *   reconnected). A delta carries the run's whole text so far (all its
 *   turns), numbered by `seq` per run: an older or repeated event changes
 *   nothing, and a missed one is made up by the next. What history already
 *   stores of a run (its finished turns) is cut from the live text, so
 *   nothing shows twice while a run goes on.
 *
 * Pure functions, no DOM: unit-tested in test/ui/.
 */

export interface HistoryEntry {
  readonly seq: number
  readonly role: string
  readonly text: string
  readonly ts: number
  readonly runId?: string | undefined
  readonly toolName?: string | undefined
  readonly toolCallId?: string | undefined
  readonly data?: unknown
  readonly channel?: string | undefined
  readonly sender?: string | undefined
}

export interface History {
  readonly sessionKey: string
  readonly sessionId: string | undefined
  readonly entries: ReadonlyArray<HistoryEntry>
}

export interface Outgoing {
  readonly key: string
  readonly text: string
  readonly ts: number
  /** sending: no answer yet; accepted: the Gateway took it; unconfirmed: the socket dropped first; failed: refused. */
  readonly status: "sending" | "accepted" | "unconfirmed" | "failed"
  readonly error?: string | undefined
}

export interface LiveTool {
  readonly toolCallId: string
  readonly name: string
  readonly args?: unknown
  readonly result?: unknown
  readonly isError?: boolean | undefined
  readonly done: boolean
}

export interface LiveRun {
  readonly runId: string
  readonly text: string
  readonly ts: number
  readonly tools: ReadonlyArray<LiveTool>
  readonly status: "running" | "ok" | "aborted" | "error"
  readonly error?: string | undefined
  /** The newest event's seq (chat and agent events of a run share one numbering). */
  readonly lastSeq: number
}

export interface Transcript {
  readonly sessionKey: string
  readonly sessionId: string | undefined
  readonly entries: ReadonlyArray<HistoryEntry>
  readonly outbox: ReadonlyArray<Outgoing>
  readonly runs: ReadonlyArray<LiveRun>
}

/** Bounds on what the page keeps of one session. */
export const MAX_ENTRIES = 2000
export const MAX_RUNS = 20
export const MAX_TEXT = 200_000
const MAX_TOOLS = 64

export const emptyTranscript = (sessionKey: string): Transcript => ({
  sessionKey,
  sessionId: undefined,
  entries: [],
  outbox: [],
  runs: []
})

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)
const str = (v: unknown, max = 512): string | undefined => (typeof v === "string" ? v.slice(0, max) : undefined)
const finite = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)

/** `chat.history`'s answer, checked: entries without a numeric seq are dropped, texts bounded. */
export const readHistory = (payload: unknown, sessionKey: string): History => {
  const p = isRecord(payload) ? payload : {}
  const list = Array.isArray(p.messages) ? p.messages : []
  const entries: Array<HistoryEntry> = []
  for (const m of list.slice(-MAX_ENTRIES)) {
    if (!isRecord(m)) continue
    const seq = finite(m.seq)
    if (seq === undefined) continue
    entries.push({
      seq,
      role: str(m.role, 32) ?? "system",
      text: str(m.text, MAX_TEXT) ?? "",
      ts: finite(m.ts) ?? 0,
      runId: str(m.runId, 200),
      toolName: str(m.toolName, 200),
      toolCallId: str(m.toolCallId, 200),
      data: m.data,
      channel: str(m.channel, 64),
      sender: str(m.sender, 256)
    })
  }
  return { sessionKey: str(p.sessionKey) ?? sessionKey, sessionId: str(p.sessionId, 200), entries }
}

const bySeq = (a: HistoryEntry, b: HistoryEntry) => a.seq - b.seq

/** Merges a `chat.history` answer into what the page shows (see the module comment). */
export const mergeHistory = (t: Transcript, h: History): Transcript => {
  if (h.sessionKey !== t.sessionKey) return t
  // A new sessionId (the session was reset) starts a new transcript: the old entries are not it.
  const sameSession = t.sessionId === undefined || h.sessionId === undefined || t.sessionId === h.sessionId
  const merged = new Map<number, HistoryEntry>()
  if (sameSession) for (const e of t.entries) merged.set(e.seq, e)
  for (const e of h.entries) merged.set(e.seq, e)
  const entries = [...merged.values()].sort(bySeq).slice(-MAX_ENTRIES)
  const stored = new Set(entries.filter((e) => e.role === "user" && e.runId).map((e) => e.runId))
  const runsWithEntries = new Set(entries.filter((e) => e.runId && e.role !== "user").map((e) => e.runId))
  return {
    ...t,
    sessionId: h.sessionId ?? t.sessionId,
    entries,
    outbox: t.outbox.filter((o) => !stored.has(o.key)),
    // A run that ended well is shown from history alone once history holds it; one that was
    // aborted or failed keeps its note (history stores no entry for the failure itself).
    runs: t.runs.filter((r) => r.status !== "ok" || (!runsWithEntries.has(r.runId) && r.text !== ""))
  }
}

/** A message this page is sending (shown at once, before any answer). */
export const addOutgoing = (t: Transcript, o: Pick<Outgoing, "key" | "text" | "ts">): Transcript =>
  t.outbox.some((x) => x.key === o.key)
    ? updateOutgoing(t, o.key, { status: "sending", error: undefined })
    : { ...t, outbox: [...t.outbox, { ...o, status: "sending" }] }

export const updateOutgoing = (t: Transcript, key: string, patch: Partial<Pick<Outgoing, "status" | "error">>): Transcript => ({
  ...t,
  outbox: t.outbox.map((o) => (o.key === key ? { ...o, ...patch } : o))
})

const textOfMessage = (m: unknown): string | undefined => {
  if (!isRecord(m)) return undefined
  if (typeof m.text === "string") return m.text.slice(0, MAX_TEXT)
  if (!Array.isArray(m.content)) return undefined
  let text = ""
  for (const part of m.content) if (isRecord(part) && part.type === "text" && typeof part.text === "string") text += part.text
  return text.slice(0, MAX_TEXT)
}

const upsertRun = (t: Transcript, runId: string, seq: number, ts: number, f: (r: LiveRun) => LiveRun): Transcript => {
  const existing = t.runs.find((r) => r.runId === runId)
  const base: LiveRun = existing ?? { runId, text: "", ts, tools: [], status: "running", lastSeq: 0 }
  // Events of a run are numbered: an old or repeated one changes nothing.
  if (existing && seq <= existing.lastSeq) return t
  const next = { ...f(base), lastSeq: Math.max(base.lastSeq, seq) }
  const runs = existing ? t.runs.map((r) => (r.runId === runId ? next : r)) : [...t.runs, next].slice(-MAX_RUNS)
  return { ...t, runs }
}

/** Whether a `chat` event is about a run this transcript does not know yet (the page then reloads history for its user message). */
export const isNewRun = (t: Transcript, payload: unknown): boolean =>
  isRecord(payload) &&
  payload.sessionKey === t.sessionKey &&
  typeof payload.runId === "string" &&
  !t.runs.some((r) => r.runId === payload.runId) &&
  !t.entries.some((e) => e.runId === payload.runId)

/** A `chat` event {runId, sessionKey, seq, state, message?, errorMessage?}. Other sessions' events change nothing. */
export const applyChatEvent = (t: Transcript, payload: unknown, now: number): Transcript => {
  if (!isRecord(payload) || payload.sessionKey !== t.sessionKey) return t
  const runId = str(payload.runId, 200)
  const seq = finite(payload.seq)
  if (!runId || seq === undefined) return t
  const state = payload.state
  const text = textOfMessage(payload.message)
  switch (state) {
    case "delta":
      return upsertRun(t, runId, seq, now, (r) => ({ ...r, status: "running", text: text ?? r.text }))
    case "final":
      return upsertRun(t, runId, seq, now, (r) => ({ ...r, status: "ok", text: text ?? r.text }))
    case "aborted":
    case "error":
      return upsertRun(t, runId, seq, now, (r) => ({
        ...r,
        status: state,
        error: str(payload.errorMessage, 2000) ?? (state === "aborted" ? "aborted" : "the run failed")
      }))
    default:
      return t
  }
}

/** An `agent` event {runId, seq, stream, data}: the assistant's text and tool calls of a run this transcript shows. */
export const applyAgentEvent = (t: Transcript, payload: unknown, now: number): Transcript => {
  if (!isRecord(payload)) return t
  const runId = str(payload.runId, 200)
  const seq = finite(payload.seq)
  if (!runId || seq === undefined) return t
  // Agent events do not name the session: only runs already known here (from a chat event or our own send) are followed.
  const known = t.runs.some((r) => r.runId === runId) || t.outbox.some((o) => o.key === runId)
  if (!known) return t
  const data = isRecord(payload.data) ? payload.data : {}
  if (payload.stream === "assistant" && typeof data.text === "string") {
    const text = data.text.slice(0, MAX_TEXT)
    return upsertRun(t, runId, seq, now, (r) => (r.status === "running" ? { ...r, text } : r))
  }
  if (payload.stream === "tool") {
    const toolCallId = str(data.toolCallId, 200)
    if (!toolCallId) return t
    const name = str(data.name, 200) ?? "tool"
    return upsertRun(t, runId, seq, now, (r) => {
      const tools = r.tools.some((x) => x.toolCallId === toolCallId)
        ? r.tools
        : [...r.tools, { toolCallId, name, args: data.args, done: false }].slice(-MAX_TOOLS)
      return {
        ...r,
        tools:
          data.phase === "result"
            ? tools.map((x) =>
                x.toolCallId === toolCallId ? { ...x, result: data.result, isError: data.isError === true, done: true } : x
              )
            : tools
      }
    })
  }
  if (payload.stream === "lifecycle" && data.phase === "start") {
    return upsertRun(t, runId, seq, now, (r) => r)
  }
  return t
}

/** Ends a run the page learned (agent.wait after a reconnect) is over, though its final event was missed. */
export const endRun = (t: Transcript, runId: string, status: "ok" | "aborted" | "error", error?: string): Transcript => ({
  ...t,
  runs: t.runs.map((r) => (r.runId === runId && r.status === "running" ? { ...r, status, ...(error ? { error } : {}) } : r))
})

/** Drops a finished run's live row (after its note was seen, or when history holds it). */
export const dropRun = (t: Transcript, runId: string): Transcript => ({ ...t, runs: t.runs.filter((r) => r.runId !== runId) })

/**
 * What is left to show of a live run once history holds some of it: the
 * live text minus the run's stored assistant texts (the run's text so far is
 * its turns' texts one after another), and the tools history does not hold.
 */
export const liveRemainder = (t: Transcript, run: LiveRun): { readonly text: string; readonly tools: ReadonlyArray<LiveTool> } => {
  const mine = t.entries.filter((e) => e.runId === run.runId)
  const storedText = mine
    .filter((e) => e.role === "assistant")
    .map((e) => e.text)
    .join("")
  const text = storedText === "" ? run.text : run.text.startsWith(storedText) ? run.text.slice(storedText.length) : ""
  const storedCalls = new Set(mine.filter((e) => e.toolCallId).map((e) => e.toolCallId))
  return { text, tools: run.tools.filter((x) => !storedCalls.has(x.toolCallId)) }
}

/** The runs still going (for the Abort button). */
export const runningRuns = (t: Transcript): ReadonlyArray<LiveRun> => t.runs.filter((r) => r.status === "running")

/**
 * A run this page started (chat.send answered "started" or "in_flight"), shown
 * as going before its first event arrives; nothing if the transcript already
 * has it, live or stored.
 */
export const startRun = (t: Transcript, runId: string, now: number): Transcript =>
  t.runs.some((r) => r.runId === runId) || t.entries.some((e) => e.runId === runId && e.role !== "user")
    ? t
    : { ...t, runs: [...t.runs, { runId, text: "", ts: now, tools: [], status: "running" as const, lastSeq: 0 }].slice(-MAX_RUNS) }
