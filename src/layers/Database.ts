/**
 * The Gateway's SQLite database (`<stateDir>/clawgate.sqlite`, WAL) with its
 * migrations applied at start. Everything that must survive a crash lives
 * here: paired devices, their tokens, pending pairing requests, sessions with
 * their transcripts and runs, and the channels' inbound cursors.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { GatewayStartError } from "../services/GatewayServer.js"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect, Layer, Option } from "effect"
import { CheckStatus, Readiness } from "../services/Readiness.js"

export const migrations = {
  "0001_devices": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE devices (
      device_id TEXT PRIMARY KEY,
      public_key TEXT NOT NULL,
      display_name TEXT,
      platform TEXT,
      device_family TEXT,
      client_id TEXT NOT NULL,
      client_mode TEXT NOT NULL,
      roles TEXT NOT NULL,
      scopes TEXT NOT NULL,
      approved_via TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      approved_at INTEGER NOT NULL,
      last_seen_at INTEGER,
      last_seen_reason TEXT
    )`
    yield* sql`CREATE TABLE device_tokens (
      device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
      role TEXT NOT NULL,
      token_hash TEXT NOT NULL,
      scopes TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      rotated_at INTEGER,
      revoked_at INTEGER,
      PRIMARY KEY (device_id, role)
    )`
    yield* sql`CREATE TABLE pairing_requests (
      request_id TEXT PRIMARY KEY,
      device_id TEXT NOT NULL UNIQUE,
      request TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`
  }),
  // Sessions, their transcripts (every session id a key ever had, so reset keeps the old one),
  // agent runs, and each channel's inbound cursor (stored with the transcript, in one transaction).
  "0002_sessions": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE sessions (
      key TEXT PRIMARY KEY,
      session_id TEXT NOT NULL UNIQUE,
      agent_id TEXT NOT NULL,
      channel TEXT,
      peer TEXT,
      label TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`
    yield* sql`CREATE INDEX sessions_by_updated ON sessions (updated_at)`
    yield* sql`CREATE TABLE transcript (
      session_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      session_key TEXT NOT NULL,
      run_id TEXT,
      role TEXT NOT NULL,
      text TEXT NOT NULL,
      tool_name TEXT,
      tool_call_id TEXT,
      data TEXT,
      channel TEXT,
      sender TEXT,
      ts INTEGER NOT NULL,
      PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID`
    yield* sql`CREATE INDEX transcript_by_key ON transcript (session_key)`
    yield* sql`CREATE TABLE runs (
      run_id TEXT PRIMARY KEY,
      session_key TEXT NOT NULL,
      session_id TEXT NOT NULL,
      status TEXT NOT NULL,
      accepted_at INTEGER NOT NULL,
      started_at INTEGER,
      ended_at INTEGER,
      summary TEXT,
      deliver_channel TEXT,
      deliver_to TEXT,
      delivered_at INTEGER
    )`
    yield* sql`CREATE INDEX runs_by_key ON runs (session_key)`
    yield* sql`CREATE INDEX runs_open ON runs (status) WHERE status IN ('queued', 'running')`
    yield* sql`CREATE INDEX runs_undelivered ON runs (ended_at) WHERE deliver_channel IS NOT NULL AND delivered_at IS NULL`
    yield* sql`CREATE TABLE channel_cursors (
      channel TEXT NOT NULL,
      account TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (channel, account)
    )`
  }),
  // The health snapshot's per-agent counts and most recent sessions.
  "0003_sessions_by_agent": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE INDEX sessions_by_agent_updated ON sessions (agent_id, updated_at)`
  }),
  // The command surface approved for each node and the one waiting for approval (gateway.nodes.pairing.commandApproval).
  "0004_node_surfaces": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE node_surfaces (
      node_id TEXT PRIMARY KEY,
      approved_commands TEXT,
      approved_at INTEGER,
      request_id TEXT UNIQUE,
      pending_commands TEXT,
      pending_meta TEXT,
      pending_ts INTEGER
    )`
  })
}

/** Where the database of a state dir lives. */
export const databasePath = (stateDir: string) => path.join(stateDir, "clawgate.sqlite")

export const migrate = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: "clawgate_migrations" })

/**
 * The database in `stateDir`, or in memory (`stateDir` undefined: tests and embedding). Once migrated it
 * marks the "store" check of the Readiness it is given, if any.
 */
export const DatabaseLive = (stateDir: string | undefined) => {
  const filename = stateDir === undefined ? ":memory:" : databasePath(stateDir)
  const client = Layer.unwrapEffect(
    Effect.tryPromise({
      try: async () => {
        if (stateDir === undefined) return
        await fs.mkdir(stateDir, { recursive: true, mode: 0o700 })
        // Created 0600 before SQLite opens it, so the WAL files it creates next get the same mode.
        await fs.open(filename, "a", 0o600).then((h) => h.close())
      },
      catch: (e) =>
        new GatewayStartError({
          message: `cannot create the database ${filename}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; the state dir must be a directory this user can write (set CLAWGATE_STATE_DIR to one)`
        })
    }).pipe(Effect.as(SqliteClient.layer({ filename })))
  )
  const ready = Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`PRAGMA foreign_keys = ON`
      yield* sql`PRAGMA synchronous = FULL`
      yield* migrate
      // Files left by older versions, created with the process umask.
      if (stateDir !== undefined) {
        yield* Effect.promise(() => Promise.all(["", "-wal", "-shm"].map((suffix) => fs.chmod(filename + suffix, 0o600).catch(() => {}))))
      }
      // Open and migrated: the probes' "store" check (when this Gateway keeps a Readiness).
      const readiness = yield* Effect.serviceOption(Readiness)
      if (Option.isSome(readiness)) yield* readiness.value.mark("store", CheckStatus.up)
    })
  )
  return Layer.provideMerge(ready, client)
}
