/**
 * DoctorProbes: what `clawgate doctor` looks at on this host, outside the
 * config: the modes of the state dir's files, the state-dir lock, whether a
 * port is free, the TLS files, programs on PATH, the SQLite store and the
 * other profiles' configs. Every probe reads without changing anything; the
 * repairs (`tighten`, `removeStaleLock`) check again before they act, and
 * never follow a symbolic link nor remove a lock that is alive. The rules
 * that judge these facts are the program's (src/programs/doctor.ts).
 */
import { Context, type Effect } from "effect"
import type { ClawgateConfig } from "../config/schema.js"
import type { FileFact, FileKind } from "../security/audit/types.js"
import type { LockOwner } from "./StateLock.js"

/** One file or directory as lstat sees it; a symbolic link is reported, never followed (bar the state dir itself). */
export interface ProbedFile extends FileFact {
  readonly symlink: boolean
}

export type LockFact =
  /** No `gateway.lock` and no `gateway.lock.json`. */
  | { readonly state: "free" }
  /** A Gateway holds it: its pid is alive and the lock was refreshed within the stale time. */
  | { readonly state: "held"; readonly lockPath: string; readonly owner?: LockOwner | undefined }
  /** Left behind: what StateLockFile's own rules say is stale about it (the next start would take it over). */
  | { readonly state: "stale"; readonly lockPath: string; readonly reason: string; readonly owner?: LockOwner | undefined }

export type PortFact =
  | { readonly state: "free" }
  | { readonly state: "in-use"; readonly host: string }
  /** It could not be tried (e.g. an address this host does not have). */
  | { readonly state: "unknown"; readonly host: string; readonly error: string }

export type TlsFact =
  /** Neither file exists. */
  | { readonly state: "absent"; readonly certPath: string; readonly keyPath: string; readonly generated: boolean }
  | {
      readonly state: "present"
      readonly certPath: string
      readonly keyPath: string
      readonly generated: boolean
      /** Why a file could not be read or parsed, if so. */
      readonly error?: string | undefined
      readonly keyMatches?: boolean | undefined
      /** Certificate's notAfter, ms since the epoch. */
      readonly notAfter?: number | undefined
      readonly fingerprint?: string | undefined
    }

export interface MigrationRef {
  readonly id: number
  readonly name: string
}

export type StoreFact =
  | { readonly state: "missing"; readonly path: string }
  /** It could not be opened or read (not a database, locked, unreadable). */
  | { readonly state: "unreadable"; readonly path: string; readonly error: string }
  | {
      readonly state: "open"
      readonly path: string
      /** `PRAGMA integrity_check` rows: ["ok"] when sound (at most a few rows are kept). */
      readonly integrity: ReadonlyArray<string>
      readonly applied: ReadonlyArray<MigrationRef>
      readonly expected: ReadonlyArray<MigrationRef>
      readonly pending: {
        readonly count: number
        readonly oldest?: { readonly requestId: string; readonly createdAtMs: number } | undefined
      }
    }

/** The hashes (SHA-256, hex) of another profile's server-side secrets (`gateway.auth.token`, `gateway.auth.password`). */
export interface ProfileSecrets {
  readonly configPath: string
  readonly hashes: ReadonlyArray<{ readonly key: string; readonly sha256: string }>
}

export interface DoctorProbesService {
  /** The files that hold secrets or records (the audit's list), as lstat sees them; missing ones are left out. */
  readonly files: (candidates: ReadonlyArray<readonly [FileKind, string]>) => Effect.Effect<ReadonlyArray<ProbedFile>>
  /** Takes group and other permissions off one file or directory (lstat first: a link is left alone). */
  readonly tighten: (path: string) => Effect.Effect<{ readonly ok: boolean; readonly note: string }>
  readonly lock: (stateDir: string) => Effect.Effect<LockFact>
  /** Removes the lock only if it is stale by StateLockFile's rules at this moment; says what it did. */
  readonly removeStaleLock: (stateDir: string) => Effect.Effect<{ readonly removed: boolean; readonly note: string }>
  /** Tries to listen on `host:port` and lets go at once. */
  readonly port: (host: string, port: number) => Effect.Effect<PortFact>
  /** The certificate and key the Gateway would use for `config` (never generates one). */
  readonly tls: (config: ClawgateConfig, stateDir: string) => Effect.Effect<TlsFact>
  /** The executable `name` on PATH, if there is one. */
  readonly which: (name: string) => Effect.Effect<string | undefined>
  /** The store, opened read-only and closed again before this returns. */
  readonly store: (stateDir: string) => Effect.Effect<StoreFact>
  /** Server-side secret hashes of the other `~/.clawgate*` state dirs on this host (bounded in number and size). */
  readonly otherProfiles: (ownStateDir: string) => Effect.Effect<ReadonlyArray<ProfileSecrets>>
}

export class DoctorProbes extends Context.Tag("clawgate/DoctorProbes")<DoctorProbes, DoctorProbesService>() {}
