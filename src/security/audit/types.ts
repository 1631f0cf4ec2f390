/**
 * What `clawgate security audit` reads and what it reports: the facts gathered
 * about this host and the running Gateway (programs/audit.ts gathers them),
 * and the findings the rules in this directory make of them. Kept apart from
 * the rules so every area imports the same shapes without importing another.
 */
import type { ConfigEnv } from "../../services/Config.js"

export type Severity = "critical" | "warn" | "info"

export interface Finding {
  readonly id: string
  readonly severity: Severity
  readonly title: string
  readonly detail: string
  /** What to do about it; empty for findings that need nothing done. */
  readonly fix: string
}

export type FileKind = "config" | "stateDir" | "deviceKey" | "deviceTokens" | "tlsKey" | "database" | "log" | "logs" | "lockOwner"

export interface FileFact {
  readonly kind: FileKind
  readonly path: string
  /** st_mode permission bits (mode & 0o777). */
  readonly mode: number
  readonly isDirectory: boolean
}

export interface UntrustedProxyHeadersFact {
  readonly count: number
  readonly lastFrom: string | null
  readonly lastAt: number | null
}

/** What the Gateway the CLI reached says about itself (`status`); a field it did not send is undefined. */
export interface LiveGateway {
  readonly url: string
  readonly urlSource: string
  /** It is this host's Gateway, run from the config being audited (local target). */
  readonly local: boolean
  readonly bind?: string | undefined
  readonly listeners?: ReadonlyArray<{ readonly host: string; readonly port: number }> | undefined
  readonly authMode?: string | undefined
  readonly tls?: boolean | undefined
  /** Tailscale Serve/Funnel as the Gateway runs it ("off", "serve", "funnel"). */
  readonly tailscale?: string | undefined
  readonly untrustedProxyHeaders?: UntrustedProxyHeadersFact | undefined
  /** From the Gateway's vital signs: connections open now, by kind. */
  readonly connections?: { readonly operators: number; readonly nodes: number; readonly pending: number } | undefined
  /** The unauthenticated-connection budget in force, when the Gateway is this host's. */
  readonly unauthenticatedTotal?: number | undefined
}

export type LiveFacts =
  | ({ readonly reachable: true } & LiveGateway)
  | { readonly reachable: false; readonly url?: string | undefined; readonly reason: string }

export interface AuditFacts {
  readonly configPath: string
  readonly env: ConfigEnv
  readonly platform: NodeJS.Platform
  readonly files: ReadonlyArray<FileFact>
  readonly live: LiveFacts
}

export interface AuditSummary {
  readonly critical: number
  readonly warn: number
  readonly info: number
}
