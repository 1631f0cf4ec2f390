/**
 * Sessions: the conversations the Gateway owns, their transcripts and the
 * agent runs on them, kept in SQLite so that nothing acknowledged to a user is
 * lost when the process is killed. One session per key (`agent:main:main` for
 * the operator's web chat, `agent:main:telegram:<chatId>` for a Telegram chat).
 *
 * Writes that must agree are one transaction: a channel's inbound message and
 * the channel's new cursor (Telegram's update offset) are stored together, so
 * after a crash a message is either in the transcript with its offset, or
 * neither (and Telegram sends it again).
 */
import { Context, Data, type Effect, type Option, type Scope } from "effect"

export type EntryRole = "user" | "assistant" | "tool_call" | "tool_result" | "system"

/** One line of a transcript. */
export interface TranscriptEntry {
  /** Position in the session's transcript, from 1, in the order written. */
  readonly seq: number
  readonly sessionId: string
  readonly runId?: string | undefined
  readonly role: EntryRole
  readonly text: string
  /** Tool calls and results: the tool's name and the model's call id. */
  readonly toolName?: string | undefined
  readonly toolCallId?: string | undefined
  /** Structured content (tool params, a tool's result), as JSON-compatible data. */
  readonly data?: unknown
  /** Where a user message came from (`telegram`, `webchat`, `cli`) and who sent it. */
  readonly channel?: string | undefined
  readonly sender?: string | undefined
  readonly ts: number
}

export type NewEntry = Omit<TranscriptEntry, "seq" | "sessionId" | "ts"> & { readonly ts?: number | undefined }

export interface SessionInfo {
  readonly key: string
  /** Changes on `reset`: the transcript of the old id is kept but no longer shown. */
  readonly sessionId: string
  readonly agentId: string
  /** The channel this session talks on, and the peer there (a Telegram chat id). */
  readonly channel?: string | undefined
  readonly peer?: string | undefined
  readonly label?: string | undefined
  readonly createdAt: number
  readonly updatedAt: number
  readonly messageCount: number
  readonly lastText?: string | undefined
}

export interface SessionInit {
  readonly agentId: string
  readonly channel?: string | undefined
  readonly peer?: string | undefined
  readonly label?: string | undefined
}

export type RunStatus = "queued" | "running" | "ok" | "error" | "aborted" | "timeout"

export interface RunRecord {
  readonly runId: string
  readonly sessionKey: string
  readonly sessionId: string
  readonly status: RunStatus
  readonly acceptedAt: number
  readonly startedAt?: number | undefined
  readonly endedAt?: number | undefined
  /** The final assistant text (ok), or what went wrong (error, aborted, timeout). */
  readonly summary?: string | undefined
  /** Where the final reply goes when the run ends (`deliver`), and whether it went. */
  readonly deliverTo?: { readonly channel: string; readonly to: string } | undefined
  readonly deliveredAt?: number | undefined
}

/** A channel's position in its inbound stream (Telegram: the next update_id to ask for). */
export interface ChannelCursor {
  readonly channel: string
  readonly account: string
  readonly value: string
}

export class SessionsError extends Data.TaggedError("SessionsError")<{
  readonly reason: "NotFound" | "Storage"
  readonly message: string
  readonly cause?: unknown
}> {}

/** A session as the health snapshot lists it. */
export interface SessionActivity {
  readonly key: string
  readonly agentId: string
  readonly updatedAt: number
  readonly channel?: string | undefined
}

/** How many sessions there are, in all and per agent, and the most recently active ones. */
export interface SessionsSummary {
  readonly count: number
  /** Most recently updated first. */
  readonly recent: ReadonlyArray<SessionActivity>
  readonly agents: ReadonlyArray<{ readonly agentId: string; readonly count: number; readonly recent: ReadonlyArray<SessionActivity> }>
}

/** A committed change to a session, as `changes` tells it. */
export type SessionChange =
  | { readonly _tag: "Created"; readonly key: string }
  | { readonly _tag: "Appended"; readonly key: string; readonly entries: ReadonlyArray<TranscriptEntry> }
  | { readonly _tag: "Reset"; readonly key: string }
  | { readonly _tag: "Deleted"; readonly key: string }

export interface SessionsService {
  /** The session with this key, created (with `init`) if it does not exist. */
  readonly ensure: (key: string, init: SessionInit) => Effect.Effect<SessionInfo, SessionsError>
  readonly get: (key: string) => Effect.Effect<Option.Option<SessionInfo>, SessionsError>
  /** Most recently updated first. */
  readonly list: (options?: {
    readonly limit?: number | undefined
    readonly search?: string | undefined
  }) => Effect.Effect<ReadonlyArray<SessionInfo>, SessionsError>
  /** The current transcript (of the session's current id), oldest first; `limit` keeps the newest. */
  readonly history: (
    key: string,
    options?: { readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<TranscriptEntry>, SessionsError>
  /**
   * Appends to the session's current transcript, in one transaction with the
   * optional channel cursor and run record. Returns the entries as stored.
   */
  readonly append: (
    key: string,
    entries: ReadonlyArray<NewEntry>,
    options?: { readonly cursor?: ChannelCursor | undefined; readonly run?: RunRecord | undefined }
  ) => Effect.Effect<ReadonlyArray<TranscriptEntry>, SessionsError>
  /** A new session id for the key: the old transcript stays on disk, the next history is empty. */
  readonly reset: (key: string) => Effect.Effect<SessionInfo, SessionsError>
  /** Removes the session, its transcripts and its runs. */
  readonly remove: (key: string) => Effect.Effect<void, SessionsError>

  readonly cursor: (channel: string, account: string) => Effect.Effect<Option.Option<string>, SessionsError>
  readonly setCursor: (cursor: ChannelCursor) => Effect.Effect<void, SessionsError>

  readonly putRun: (run: RunRecord) => Effect.Effect<void, SessionsError>
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<RunRecord>, SessionsError>
  /** Runs that were queued or running when the Gateway stopped: marked failed at start; returns them. */
  readonly failInterrupted: (reason: string) => Effect.Effect<ReadonlyArray<RunRecord>, SessionsError>
  /** Finished runs whose reply was to be delivered and was not (the Gateway died in between). */
  readonly undelivered: Effect.Effect<ReadonlyArray<RunRecord>, SessionsError>

  /** Counts in all and per agent, with the `recent` most recently updated sessions of each. One read. */
  readonly summary: (options: { readonly recent: number }) => Effect.Effect<SessionsSummary, SessionsError>
  /**
   * Runs `notify` after every committed write that creates, updates, resets
   * or removes a session (for whoever summarises them); until the scope ends.
   */
  readonly watch: (notify: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Calls `listener` with every committed creation, append (with the entries
   * as stored), reset and removal, in commit order, until the scope ends. It
   * runs in the writer's fiber: it must only hand the change on.
   */
  readonly changes: (listener: (change: SessionChange) => void) => Effect.Effect<void, never, Scope.Scope>
}

export class Sessions extends Context.Tag("clawgate/Sessions")<Sessions, SessionsService>() {}

/** The operator's own chat with the default agent, as in OpenClaw. */
export const MAIN_SESSION_KEY = "agent:main:main"

/** The session defaults as OpenClaw reports them (`sessions.list`, `status`). */
export const SESSION_DEFAULTS = { defaultAgentId: "main", mainKey: "main", mainSessionKey: MAIN_SESSION_KEY } as const
export const sessionKeyFor = (agentId: string, channel: string, peer: string) => `agent:${agentId}:${channel}:${peer}`
