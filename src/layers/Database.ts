/**
 * The Gateway's SQLite database (`<stateDir>/clawgate.sqlite`, WAL) with its
 * migrations applied at start. Everything that must survive a crash lives
 * here: paired devices, their tokens, pending pairing requests.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect, Layer } from "effect"

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
  })
}

export const migrate = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: "clawgate_migrations" })

/** The database in `stateDir`, or in memory (`stateDir` undefined: tests and embedding). */
export const DatabaseLive = (stateDir: string | undefined) => {
  const filename = stateDir === undefined ? ":memory:" : path.join(stateDir, "clawgate.sqlite")
  const client = Layer.unwrapEffect(
    Effect.promise(async () => {
      if (stateDir === undefined) return
      await fs.mkdir(stateDir, { recursive: true, mode: 0o700 })
      // Created 0600 before SQLite opens it, so the WAL files it creates next get the same mode.
      await fs.open(filename, "a", 0o600).then((h) => h.close())
    }).pipe(
      Effect.as(SqliteClient.layer({ filename }))
    )
  )
  const ready = Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`PRAGMA foreign_keys = ON`
      yield* sql`PRAGMA synchronous = FULL`
      yield* migrate
      // Files left by older versions, created with the process umask.
      if (stateDir !== undefined) {
        yield* Effect.promise(() =>
          Promise.all(["", "-wal", "-shm"].map((suffix) => fs.chmod(filename + suffix, 0o600).catch(() => {})))
        )
      }
    })
  )
  return Layer.provideMerge(ready, client)
}
