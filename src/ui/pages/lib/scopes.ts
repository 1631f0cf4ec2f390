/**
 * Which scope each method the pages call needs, whether this Gateway offers
 * it, and what an error answer means for the person looking at the page.
 *
 * The table mirrors the Gateway's method table (src/protocol/methods.ts,
 * which the browser may not import at run time); test/ui/pages-scopes.test.ts
 * holds the two together, so a change of scope there fails here.
 */
import { isRecord, str, strs } from "./read.js"

/** Undefined: any authenticated caller. */
export const METHOD_SCOPES: Readonly<Record<string, string | undefined>> = {
  health: undefined,
  status: "operator.read",
  "system-presence": "operator.read",
  "node.list": "operator.read",
  "node.describe": "operator.read",
  "node.invoke": "operator.write",
  "device.pair.list": "operator.pairing",
  "device.pair.approve": "operator.pairing",
  "device.pair.reject": "operator.pairing",
  "device.pair.remove": "operator.pairing",
  "device.token.rotate": "operator.pairing",
  "device.token.revoke": "operator.pairing",
  "channels.status": "operator.read",
  "channels.logout": "operator.admin",
  "logs.tail": "operator.read",
  "config.get": "operator.read",
  "config.validate": "operator.read",
  "config.set": "operator.admin",
  "security.audit": "operator.admin"
}

/** The scope `method` needs (a method the table does not know is treated as admin-only, as the Gateway does). */
export const scopeOf = (method: string): string | undefined =>
  Object.hasOwn(METHOD_SCOPES, method) ? METHOD_SCOPES[method] : "operator.admin"

/** Whether a caller holding `can` may call `method`. */
export const mayCall = (can: (scope: string) => boolean, method: string): boolean => {
  const scope = scopeOf(method)
  return scope === undefined || can(scope)
}

/** Whether the Gateway's hello-ok lists `method` (an older Gateway, or OpenClaw's, may not serve it). */
export const offers = (hello: { readonly features: { readonly methods: ReadonlyArray<string> } } | undefined, method: string): boolean =>
  hello?.features.methods.includes(method) ?? false

/** What to tell a person whose browser lacks `scope`, and the commands that fix it on the Gateway host. */
export const missingScopeHint = (scope: string): { readonly text: string; readonly commands: ReadonlyArray<string> } => ({
  text:
    `This browser was paired without ${scope}. To grant it, log out here and log in again so that this browser asks for ` +
    `${scope}, then approve its scope-upgrade request on the Gateway host (the list shows the request id):`,
  commands: ["clawgate devices list", "clawgate devices approve <requestId>"]
})

/** An error answer, described for the page: what happened and what to do. */
export interface ErrorView {
  readonly title: string
  readonly code?: string
  readonly detailCode?: string
  readonly message: string
  readonly hint?: string
  readonly commands?: ReadonlyArray<string>
  /** The scope the browser lacks (MISSING_SCOPE). */
  readonly missingScope?: string
}

/** Reads a rejection of `client.call` (a CallError, or anything else thrown) without trusting its shape. */
export const describeError = (
  error: unknown,
  context: { readonly method?: string | undefined; readonly connected?: boolean | undefined } = {}
): ErrorView => {
  const { method, connected } = context
  const e = isRecord(error) || error instanceof Error ? (error as unknown as Record<string, unknown>) : {}
  const code = str(e.code, 64)
  const message = str(e.message) ?? (typeof error === "string" ? error : "something went wrong")
  const details = isRecord(e.details) ? e.details : undefined
  const detailCode = str(details?.code, 64)
  const base = { message, ...(code ? { code } : {}), ...(detailCode ? { detailCode } : {}) }
  if (detailCode === "MISSING_SCOPE" || (code === "FORBIDDEN" && /missing scope/i.test(message))) {
    const scope =
      str(details?.missingScope, 64) ?? strs(details?.requiredScopes)[0] ?? /missing scope:\s*([\w.]+)/i.exec(message)?.[1] ?? "that scope"
    const hint = missingScopeHint(scope)
    return { ...base, title: `Not allowed: this browser lacks ${scope}`, hint: hint.text, commands: hint.commands, missingScope: scope }
  }
  if (code === "INVALID_REQUEST" && /^unknown method/i.test(message)) {
    return {
      ...base,
      title: `This Gateway does not offer ${method ?? "this method"}`,
      hint: "It may be an older version: update the Gateway (or use the CLI on the Gateway host)."
    }
  }
  if (code === "UNAVAILABLE" && connected === false) {
    return { ...base, title: "Not connected", hint: "The page reloads this when the connection to the Gateway is back." }
  }
  if (code === "RATE_LIMITED") {
    return { ...base, title: "Too many requests", hint: "Wait a moment, then try again." }
  }
  return { ...base, title: code ? `The Gateway refused: ${code}` : "Something went wrong" }
}
