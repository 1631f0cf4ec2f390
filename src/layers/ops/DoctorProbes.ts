/**
 * What `clawgate doctor` looks at on this host (the DoctorProbes service): lstat of the state
 * dir's files, the lock by StateLockFile's own rules, a listen attempt on the port, the TLS
 * files, PATH, the SQLite store opened read-only, and the other profiles' configs. Nothing
 * here writes except the two repairs, which check again before they act: `tighten` (the same
 * rule as StatePermissions: group and other bits off, a link never followed) and
 * `removeStaleLock` (only a lock StateLockFile would take over itself).
 */
import { createPrivateKey, X509Certificate } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import JSON5 from "json5"
import type { ClawgateConfig } from "../../config/schema.js"
import { Effect, Layer } from "effect"
import type { FileKind } from "../../security/audit.js"
import {
  DoctorProbes,
  type LockFact,
  type MigrationRef,
  type PortFact,
  type ProbedFile,
  type ProfileSecrets,
  type StoreFact,
  type TlsFact
} from "../../services/DoctorProbes.js"
import { credentialHash } from "../../util/secrets.js"
import { databasePath, migrations } from "../Database.js"
import { tighten } from "../StatePermissions.js"
import { fingerprintOf, tlsPaths } from "../TlsIdentity.js"
import { LOCK_NAME, OWNER_NAME, pidAlive, readOwner, staleReason } from "./StateLockFile.js"

/** A certificate or key file larger than this is not one. */
const MAX_PEM_BYTES = 1024 * 1024
/** Other profiles' configs larger than this are skipped. */
const MAX_CONFIG_BYTES = 1024 * 1024
/** At most this many `~/.clawgate*` dirs are looked at. */
const MAX_PROFILES = 64
/** `PRAGMA integrity_check(N)`: the first problems are enough to say it is damaged. */
const INTEGRITY_ROWS = 10

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 500)

const lstat = (p: string): fs.Stats | undefined => {
  try {
    return fs.lstatSync(p)
  } catch {
    return undefined
  }
}

const files = (candidates: ReadonlyArray<readonly [FileKind, string]>): ReadonlyArray<ProbedFile> =>
  candidates.flatMap(([kind, p]) => {
    let st = lstat(p)
    if (st === undefined) return []
    let symlink = st.isSymbolicLink()
    // The state dir itself may be a link the user made (to another disk): judged by what it points to.
    if (symlink && kind === "stateDir") {
      try {
        st = fs.statSync(p)
        symlink = false
      } catch {
        return []
      }
    }
    return [{ kind, path: p, mode: st.mode & 0o777, isDirectory: st.isDirectory(), symlink }]
  })

const tightenFile = (p: string) => {
  let st = lstat(p)
  let target = p
  if (st?.isSymbolicLink()) {
    // Only a state dir may be a link (see `files`); anything else is left alone.
    try {
      target = fs.realpathSync(p)
      st = fs.statSync(target)
      if (!st.isDirectory()) return { ok: false, note: `left ${p} alone: it is a symbolic link, which doctor does not follow` }
    } catch (e) {
      return { ok: false, note: `cannot look at ${p}: ${message(e)}` }
    }
  }
  if (st === undefined) return { ok: false, note: `${p} is gone` }
  if (!st.isFile() && !st.isDirectory()) return { ok: false, note: `left ${p} alone: not a regular file or directory` }
  const note = tighten(target, st)
  if (note === undefined) return { ok: true, note: `${p} is already owner-only` }
  return { ok: note.startsWith("tightened"), note }
}

const lockFact = (stateDir: string): LockFact => {
  const lockPath = path.join(stateDir, LOCK_NAME)
  const owner = readOwner(stateDir)
  const lockExists = lstat(lockPath) !== undefined
  if (!lockExists) {
    if (lstat(path.join(stateDir, OWNER_NAME)) === undefined) return { state: "free" }
    // gateway.lock.json without the lock: left by a Gateway that died between the two, or unreadable.
    if (owner !== undefined && pidAlive(owner.pid)) return { state: "held", lockPath, owner }
    return {
      state: "stale",
      lockPath,
      owner,
      reason: `${OWNER_NAME} is left without its lock${owner ? ` (pid ${owner.pid}, not running)` : ""}`
    }
  }
  const reason = staleReason(lockPath, owner)
  return reason === undefined ? { state: "held", lockPath, owner } : { state: "stale", lockPath, reason, owner }
}

const removeStaleLock = (stateDir: string) => {
  // Looked at again now: a Gateway may have started since the report was made.
  const fact = lockFact(stateDir)
  if (fact.state === "free") return { removed: false, note: "there is no lock" }
  if (fact.state === "held") return { removed: false, note: `left the lock alone: pid ${fact.owner?.pid ?? "?"} holds it` }
  try {
    fs.rmSync(fact.lockPath, { recursive: true, force: true })
    // The owner file is removed only when it names no live process.
    const owner = readOwner(stateDir)
    if (owner === undefined || !pidAlive(owner.pid)) fs.rmSync(path.join(stateDir, OWNER_NAME), { force: true })
    return { removed: true, note: `removed the stale lock (${fact.reason})` }
  } catch (e) {
    return { removed: false, note: `cannot remove ${fact.lockPath}: ${message(e)}` }
  }
}

const portFact = (host: string, port: number) =>
  Effect.async<PortFact>((resume) => {
    const server = net.createServer()
    server.once("error", (e: NodeJS.ErrnoException) =>
      resume(Effect.succeed(e.code === "EADDRINUSE" ? { state: "in-use", host } : { state: "unknown", host, error: e.code ?? e.message }))
    )
    server.listen({ host, port, exclusive: true }, () => server.close(() => resume(Effect.succeed({ state: "free" }))))
    return Effect.sync(() => server.close())
  })

const readPem = (file: string): string => {
  const st = fs.statSync(file)
  if (!st.isFile()) throw new Error(`${file} is not a file`)
  if (st.size > MAX_PEM_BYTES) throw new Error(`${file} is ${st.size} bytes, too large for a PEM file`)
  return fs.readFileSync(file, "utf8")
}

const tlsFact = (config: ClawgateConfig, stateDir: string): TlsFact => {
  const { certPath, keyPath, generated } = tlsPaths(config, stateDir)
  if (certPath === "" || keyPath === "") {
    const error = "gateway.tls.certPath and gateway.tls.keyPath go together: set both, or neither to use a generated certificate"
    return { state: "present", certPath, keyPath, generated, error }
  }
  // A generated pair is made again whenever its certificate is missing (loadTls); a configured one must have both.
  const absent = generated ? lstat(certPath) === undefined : lstat(certPath) === undefined && lstat(keyPath) === undefined
  if (absent) return { state: "absent", certPath, keyPath, generated }
  let cert: X509Certificate
  let certPem: string
  try {
    certPem = readPem(certPath)
    cert = new X509Certificate(certPem)
  } catch (e) {
    return { state: "present", certPath, keyPath, generated, error: `the certificate ${certPath}: ${message(e)}` }
  }
  const notAfter = Date.parse(cert.validTo)
  const fingerprint = fingerprintOf(certPem)
  try {
    const key = createPrivateKey(readPem(keyPath))
    return { state: "present", certPath, keyPath, generated, keyMatches: cert.checkPrivateKey(key), notAfter, fingerprint }
  } catch (e) {
    return { state: "present", certPath, keyPath, generated, notAfter, fingerprint, error: `the key ${keyPath}: ${message(e)}` }
  }
}

const which = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue
    const candidate = path.join(dir, name)
    try {
      const st = fs.statSync(candidate)
      if (st.isFile()) {
        fs.accessSync(candidate, fs.constants.X_OK)
        return candidate
      }
    } catch {
      // Not here.
    }
  }
  return undefined
}

/** The code's migrations, as the Migrator records them (`0001_devices` is id 1, name `devices`). */
const expectedMigrations: ReadonlyArray<MigrationRef> = Object.keys(migrations).flatMap((key) => {
  const m = /^(\d+)_(.+)$/.exec(key)
  return m ? [{ id: Number(m[1]), name: m[2] as string }] : []
})

const storeFact = (stateDir: string): Effect.Effect<StoreFact> => {
  const file = databasePath(stateDir)
  if (lstat(file) === undefined) return Effect.succeed({ state: "missing", path: file })
  const read = Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const integrity = (yield* sql.unsafe<{ integrity_check: string }>(`PRAGMA integrity_check(${INTEGRITY_ROWS})`)).map((r) =>
      String(Object.values(r)[0]).slice(0, 300)
    )
    const hasTable = (name: string) =>
      Effect.map(
        sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ${name}`,
        (r) => (r[0]?.n ?? 0) > 0
      )
    const applied = (yield* hasTable("clawgate_migrations"))
      ? (yield* sql<{ migration_id: number; name: string }>`SELECT migration_id, name FROM clawgate_migrations ORDER BY migration_id`).map(
          (r) => ({ id: Number(r.migration_id), name: String(r.name) })
        )
      : []
    let pending: { count: number; oldest?: { requestId: string; createdAtMs: number } } = { count: 0 }
    if (yield* hasTable("pairing_requests")) {
      const count = (yield* sql<{ n: number }>`SELECT count(*) AS n FROM pairing_requests`)[0]?.n ?? 0
      const oldest = (yield* sql<{
        request_id: string
        created_at: number
      }>`SELECT request_id, created_at FROM pairing_requests ORDER BY created_at LIMIT 1`)[0]
      pending = {
        count: Number(count),
        ...(oldest ? { oldest: { requestId: String(oldest.request_id).slice(0, 128), createdAtMs: Number(oldest.created_at) } } : {})
      }
    }
    return { state: "open", path: file, integrity, applied, expected: expectedMigrations, pending } satisfies StoreFact
  })
  // Read-only, without switching the journal mode, and closed with this scope: a running Gateway keeps its store.
  return read.pipe(
    Effect.provide(SqliteClient.layer({ filename: file, readonly: true, disableWAL: true })),
    Effect.catchAllCause((cause) => {
      const e = cause._tag === "Fail" ? cause.error : cause._tag === "Die" ? cause.defect : cause
      const inner = (e as { cause?: unknown }).cause
      return Effect.succeed<StoreFact>({ state: "unreadable", path: file, error: message(inner ?? e) })
    })
  )
}

const SERVER_SECRETS = [
  ["gateway", "auth", "token"],
  ["gateway", "auth", "password"]
] as const

const otherProfiles = (ownStateDir: string): ReadonlyArray<ProfileSecrets> => {
  const home = os.homedir()
  let names: Array<string>
  try {
    names = fs.readdirSync(home).filter((n) => n === ".clawgate" || n.startsWith(".clawgate-"))
  } catch {
    return []
  }
  const own = path.resolve(ownStateDir)
  return names.slice(0, MAX_PROFILES).flatMap((name) => {
    const dir = path.join(home, name)
    if (path.resolve(dir) === own) return []
    const configPath = path.join(dir, "clawgate.json")
    const st = lstat(configPath)
    if (st === undefined || !st.isFile() || st.size > MAX_CONFIG_BYTES) return []
    let raw: unknown
    try {
      raw = JSON5.parse(fs.readFileSync(configPath, "utf8"))
    } catch {
      return []
    }
    const hashes = SERVER_SECRETS.flatMap((keys) => {
      let v: unknown = raw
      for (const k of keys) v = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[k] : undefined
      return typeof v === "string" && v !== "" && v.length <= 4096 ? [{ key: keys.join("."), sha256: credentialHash(v) }] : []
    })
    return hashes.length > 0 ? [{ configPath, hashes }] : []
  })
}

export const DoctorProbesLive = Layer.succeed(
  DoctorProbes,
  DoctorProbes.of({
    files: (candidates) => Effect.sync(() => files(candidates)),
    tighten: (p) => Effect.sync(() => tightenFile(p)),
    lock: (stateDir) => Effect.sync(() => lockFact(stateDir)),
    removeStaleLock: (stateDir) => Effect.sync(() => removeStaleLock(stateDir)),
    port: portFact,
    tls: (config, stateDir) => Effect.sync(() => tlsFact(config, stateDir)),
    which: (name) => Effect.sync(() => which(name)),
    store: storeFact,
    otherProfiles: (ownStateDir) => Effect.sync(() => otherProfiles(ownStateDir))
  })
)
