/**
 * `node.list` / `node.describe` read for the Nodes page (shapes: src/protocol/methods/nodes.ts),
 * the invoke form's checks, and the invoke's outcome as the page shows it.
 */
import { MAX_INVOKE_TIMEOUT_MS_UI } from "./limits.js"
import { checkJson, type JsonCheck } from "./json.js"
import { bool, isRecord, num, prettyJson, records, str, strs } from "./read.js"

export interface NodeView {
  readonly nodeId: string
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly version?: string | undefined
  readonly clientId?: string | undefined
  readonly clientMode?: string | undefined
  readonly deviceFamily?: string | undefined
  readonly caps: ReadonlyArray<string>
  readonly commands: ReadonlyArray<string>
  readonly paired: boolean
  readonly connected: boolean
  readonly connectedAtMs?: number | undefined
  readonly remoteIp?: string | undefined
  readonly approvedAtMs?: number | undefined
  readonly lastSeenAtMs?: number | undefined
}

export const readNode = (v: unknown): NodeView | undefined => {
  if (!isRecord(v)) return undefined
  const nodeId = str(v.nodeId, 200)
  if (nodeId === undefined) return undefined
  return {
    nodeId,
    displayName: str(v.displayName, 200),
    platform: str(v.platform, 100),
    version: str(v.version, 100),
    clientId: str(v.clientId, 100),
    clientMode: str(v.clientMode, 64),
    deviceFamily: str(v.deviceFamily, 100),
    caps: strs(v.caps, 256, 100),
    commands: strs(v.commands, 1000, 200),
    paired: bool(v.paired) ?? false,
    connected: bool(v.connected) ?? false,
    connectedAtMs: num(v.connectedAtMs),
    remoteIp: str(v.remoteIp, 100),
    approvedAtMs: num(v.approvedAtMs),
    lastSeenAtMs: num(v.lastSeenAtMs)
  }
}

/** Connected nodes first, then by name. */
export const readNodeList = (v: unknown): Array<NodeView> =>
  records(isRecord(v) ? v.nodes : undefined, 1000)
    .flatMap((r) => readNode(r) ?? [])
    .sort((a, b) => Number(b.connected) - Number(a.connected) || nodeName(a).localeCompare(nodeName(b)))

export const nodeName = (n: NodeView): string => n.displayName ?? n.clientId ?? n.nodeId.slice(0, 12)

export type TimeoutCheck = { readonly ok: true; readonly value: number | undefined } | { readonly ok: false; readonly message: string }

/** The "Timeout ms" field: blank (the Gateway's default, 30 s) or a whole number of milliseconds within the Gateway's bound. */
export const checkTimeout = (text: string): TimeoutCheck => {
  const t = text.trim()
  if (t === "") return { ok: true, value: undefined }
  if (!/^\d+$/.test(t)) return { ok: false, message: "a whole number of milliseconds, or blank for the default (30000)" }
  const n = Number(t)
  if (n < 1 || n > MAX_INVOKE_TIMEOUT_MS_UI) return { ok: false, message: `between 1 and ${MAX_INVOKE_TIMEOUT_MS_UI} ms` }
  return { ok: true, value: n }
}

/** The params text checked: JSON (any value), or blank for none. */
export const checkParams = (text: string): JsonCheck => checkJson(text)

/** `node.invoke`'s params from the form's values. */
export const invokeParams = (input: {
  readonly nodeId: string
  readonly command: string
  readonly params: unknown
  readonly timeoutMs: number | undefined
  readonly idempotencyKey: string
}): Record<string, unknown> => ({
  nodeId: input.nodeId,
  command: input.command,
  ...(input.params !== undefined ? { params: input.params } : {}),
  ...(input.timeoutMs !== undefined ? { timeoutMs: input.timeoutMs } : {}),
  idempotencyKey: input.idempotencyKey
})

/** What the node answered, as text: the payload (or the payloadJSON it came as) pretty-printed. */
export const invokePayloadText = (answer: unknown): { readonly text: string; readonly cut: boolean } => {
  if (!isRecord(answer)) return prettyJson(answer)
  if (answer.payload !== undefined && answer.payload !== null) return prettyJson(answer.payload)
  if (typeof answer.payloadJSON === "string") {
    try {
      return prettyJson(JSON.parse(answer.payloadJSON))
    } catch {
      return prettyJson(answer.payloadJSON)
    }
  }
  return prettyJson(answer.payload)
}

/** The node's own error inside a Gateway error's details (`nodeError {code, message}`), if any. */
export const nodeErrorOf = (details: unknown): { readonly code?: string; readonly message?: string } | undefined => {
  const ne = isRecord(details) && isRecord(details.nodeError) ? details.nodeError : undefined
  if (ne === undefined) return undefined
  const code = str(ne.code, 64)
  const message = str(ne.message)
  return { ...(code !== undefined ? { code } : {}), ...(message !== undefined ? { message } : {}) }
}
