/**
 * NodeRegistry: the connected nodes and the commands they serve.
 * `node.invoke` sends `node.invoke.request` to that node only and completes
 * when the node answers with `node.invoke.result`, times out (30 s by
 * default), or disconnects (every pending invoke of a node fails at once).
 * A retried invoke with the same idempotency key runs once. The
 * implementation is `layers/nodes/NodeRegistryLive.ts`.
 */
import { Context, type Effect, type Exit } from "effect"
import type { GatewayError } from "../protocol/errors.js"
import type { NodeInventory, Nodes, Pairing, ResultOf } from "../protocol/methods.js"

export const DEFAULT_INVOKE_TIMEOUT_MS = 30_000
/** How long a finished invoke's result answers retries with the same key. */
export const IDEMPOTENCY_TTL_MS = 10 * 60_000

export interface NodeSession {
  readonly nodeId: string
  readonly connId: string
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly version?: string | undefined
  readonly deviceFamily?: string | undefined
  readonly clientId: string
  readonly caps: ReadonlyArray<string>
  readonly commands: ReadonlyArray<string>
  readonly connectedAtMs: number
  readonly remoteIp?: string | undefined
  /**
   * Declared commands not yet approved (`gateway.nodes.pairing.commandApproval: "approve"`): not in
   * `commands`, refused by `node.invoke` with a message naming the request that holds them.
   */
  readonly held?: ReadonlyArray<string> | undefined
  readonly heldRequestId?: string | undefined
}

/** Who decides a `node.pair.*` request: the connection's device (if any) and its scopes. */
export interface NodeApprover {
  readonly deviceId?: string | undefined
  readonly scopes: ReadonlyArray<string>
}

export interface InvokeRequest {
  readonly nodeId: string
  readonly command: string
  readonly params?: unknown
  readonly timeoutMs?: number | undefined
  readonly idempotencyKey: string
  /**
   * The caller holds `operator.approvals`. Without it, params that carry an
   * approval (see `approvalFields`) are refused before they reach the node:
   * a node host reads them as the operator's consent to run the command.
   */
  readonly mayApprove?: boolean | undefined
}

/**
 * The top-level params a node host could read as an approval: `approved`,
 * `approvalDecision`, `approvalId`, and anything else named `approv...`
 * (case-insensitive), as OpenClaw's node host reads them for `system.run`.
 */
export const approvalFields = (params: unknown): Array<string> =>
  typeof params === "object" && params !== null && !Array.isArray(params) ? Object.keys(params).filter((k) => /^approv/i.test(k)) : []

export interface InvokeResult {
  readonly ok: true
  readonly nodeId: string
  readonly command: string
  readonly payload: unknown
  readonly payloadJSON: string | null
}

export interface NodeResultParams {
  readonly id: string
  readonly nodeId: string
  readonly ok: boolean
  readonly payload?: unknown
  readonly payloadJSON?: string | null | undefined
  readonly error?: { readonly code?: string | undefined; readonly message?: string | undefined } | undefined
}

export type InvokeExit = Exit.Exit<InvokeResult, GatewayError>

export interface NodeEventParams {
  readonly event: string
  readonly payload?: unknown
  readonly payloadJSON?: string | undefined
}

/** One publication of a node about itself (node.skills/pluginTools/runnerInventory.update), as it is kept. */
export type InventoryUpdate =
  | { readonly _tag: "skills"; readonly skills: ReadonlyArray<typeof NodeInventory.SkillSummary.Type> }
  | { readonly _tag: "pluginTools"; readonly tools: ReadonlyArray<typeof NodeInventory.ToolSummary.Type> }
  | { readonly _tag: "runnerInventory"; readonly inventory: typeof NodeInventory.RunnerInventory.Type }

export interface NodeRegistryService {
  readonly register: (session: NodeSession) => Effect.Effect<void>
  readonly unregister: (nodeId: string, connId: string) => Effect.Effect<void>
  readonly list: Effect.Effect<ResultOf<typeof Nodes.NodeList>, GatewayError>
  readonly describe: (nodeId: string) => Effect.Effect<ResultOf<typeof Nodes.NodeDescribe>, GatewayError>
  readonly invoke: (req: InvokeRequest) => Effect.Effect<InvokeResult, GatewayError>
  /** `invoke` as a plain callback (the hot path): `done` is called once; the returned function cancels. */
  readonly unsafeInvoke: (req: InvokeRequest, done: (exit: InvokeExit) => void) => () => void
  readonly result: (
    fromNodeId: string,
    connId: string,
    params: NodeResultParams
  ) => Effect.Effect<ResultOf<typeof Nodes.NodeInvokeResult>, GatewayError>
  readonly unsafeResult: (
    fromNodeId: string,
    connId: string,
    params: NodeResultParams
  ) => Exit.Exit<ResultOf<typeof Nodes.NodeInvokeResult>, GatewayError>
  readonly event: (fromNodeId: string, params: NodeEventParams) => Effect.Effect<ResultOf<typeof Nodes.NodeEvent>, GatewayError>
  /**
   * Keeps what node `nodeId` published on connection `connId` (the latest of each kind), shown by
   * `describe` while that connection lasts; INVALID_REQUEST "unknown nodeId" when it is not the node's
   * current connection (as OpenClaw answers).
   */
  readonly publish: (nodeId: string, connId: string, update: InventoryUpdate) => Effect.Effect<void, GatewayError>
  /** Waiting command-surface requests and device-pairing requests of nodes, and the paired nodes (OpenClaw's shapes). */
  readonly pairList: Effect.Effect<ResultOf<typeof Pairing.NodePairList>, GatewayError>
  /** Approves a command-surface request (its approver holding `nodePairApprovalScopes`) or a node's device-pairing request. */
  readonly pairApprove: (requestId: string, approver: NodeApprover) => Effect.Effect<ResultOf<typeof Pairing.NodePairApprove>, GatewayError>
  readonly pairReject: (requestId: string) => Effect.Effect<ResultOf<typeof Pairing.NodePairReject>, GatewayError>
  /** Forgets a node's approved and waiting command surface (it was unpaired). */
  readonly forgetSurface: (nodeId: string) => Effect.Effect<void, GatewayError>
  /** The ids of the nodes connected now. */
  readonly connected: Effect.Effect<ReadonlyArray<string>>
}

export class NodeRegistry extends Context.Tag("clawgate/NodeRegistry")<NodeRegistry, NodeRegistryService>() {}
