/**
 * Which scope (or role) each method of protocol 4 needs. The table covers the
 * whole core set so that a caller gets the same FORBIDDEN answer for a method
 * this Gateway has not implemented yet as OpenClaw would give; whether a
 * method is actually served is up to the Dispatcher.
 */
import type { Role, Scope } from "./frames.js"

export type Requirement =
  | { readonly _tag: "Scope"; readonly scope: Scope }
  | { readonly _tag: "Role"; readonly role: Role }
  | { readonly _tag: "Authenticated" }

const scope = (s: Scope): Requirement => ({ _tag: "Scope", scope: s })
const role = (r: Role): Requirement => ({ _tag: "Role", role: r })

const table: Record<string, Requirement> = {}
const add = (req: Requirement, names: ReadonlyArray<string>) => {
  for (const n of names) table[n] = req
}

// As on OpenClaw, any authenticated connection may ask for health, so
// probes that request no scope still work.
add({ _tag: "Authenticated" }, ["health"])
add(scope("operator.read"), [
  "status",
  "system-presence",
  "node.list",
  "node.describe",
  "chat.history",
  "sessions.list",
  "channels.status",
  "logs.tail",
  "config.get",
  "agent.wait"
])
add(scope("operator.write"), ["send", "agent", "chat.send", "chat.abort", "node.invoke", "wake"])
add(scope("operator.pairing"), [
  "node.pair.list",
  "node.pair.approve",
  "node.pair.reject",
  "node.pair.remove",
  "device.pair.list",
  "device.pair.approve",
  "device.pair.reject",
  "device.pair.remove",
  "device.token.rotate",
  "device.token.revoke"
])
add(scope("operator.admin"), [
  "config.set",
  "config.patch",
  "config.apply",
  "sessions.reset",
  "sessions.delete",
  "channels.logout"
])
add(role("node"), ["node.invoke.result", "node.event"])

/** An unknown method is treated the same way as an admin-only one. */
export const requirementOf = (method: string): Requirement => table[method] ?? scope("operator.admin")

/** The scopes a client should request to call `methods`, least privilege first. */
export const scopesFor = (methods: ReadonlyArray<string>): Array<Scope> => {
  const needed = new Set<Scope>()
  for (const m of methods) {
    const r = requirementOf(m)
    needed.add(r._tag === "Scope" ? r.scope : "operator.read")
  }
  if (needed.has("operator.admin")) return ["operator.admin"]
  if (needed.has("operator.write")) needed.delete("operator.read")
  return [...needed]
}

/** `operator.admin` implies every scope; `operator.write` implies `operator.read`. */
export const scopeSatisfies = (granted: ReadonlyArray<string>, needed: Scope): boolean => {
  if (granted.includes("operator.admin")) return true
  if (granted.includes(needed)) return true
  return needed === "operator.read" && granted.includes("operator.write")
}

/** Events a client may see from this Gateway. */
export const GATEWAY_EVENTS = [
  "connect.challenge",
  "tick",
  "shutdown",
  "presence",
  "health",
  "device.pair.requested",
  "device.pair.resolved",
  "node.invoke.request",
  "node.invoke.cancel",
  "node.event",
  "agent",
  "chat"
] as const
