/**
 * The wire: frames, the connect/hello handshake and errors of the OpenClaw
 * Gateway protocol 4. Shared by the server and every client.
 *
 * Decoding is strict about the types of the fields it knows and tolerant of
 * fields it does not (Schema structs ignore excess properties by default), so
 * newer OpenClaw clients that send extra fields still connect.
 */
import { Schema } from "effect"
import { decodeExplained } from "./issues.js"

export const PROTOCOL_VERSION = 4
/** The oldest protocol accepted, for probes and node clients only. */
export const MIN_LEGACY_PROTOCOL = 3

export const MAX_PREAUTH_PAYLOAD = 64 * 1024
export const MAX_PAYLOAD = 26_214_400
export const MAX_BUFFERED_BYTES = 52_428_800
export const DEFAULT_TICK_INTERVAL_MS = 30_000
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000

/** WebSocket close codes used by the Gateway and its clients. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocol: 1002,
  policy: 1008,
  tooBig: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  tryAgainLater: 1013,
  tickTimeout: 4000,
  /** The device was removed, or its token rotated or revoked. */
  deviceRemoved: 4001
} as const

export const ErrorCode = Schema.Literal(
  "INVALID_REQUEST",
  "NOT_PAIRED",
  "NOT_LINKED",
  "UNAVAILABLE",
  "AGENT_TIMEOUT",
  "FORBIDDEN",
  "RATE_LIMITED"
)
export type ErrorCode = typeof ErrorCode.Type

export const ErrorShape = Schema.Struct({
  code: Schema.String,
  message: Schema.String,
  details: Schema.optional(Schema.Unknown),
  retryable: Schema.optional(Schema.Boolean),
  retryAfterMs: Schema.optional(Schema.Number)
})
export type ErrorShape = typeof ErrorShape.Type

export const RequestFrame = Schema.Struct({
  type: Schema.Literal("req"),
  id: Schema.String,
  method: Schema.String,
  params: Schema.optional(Schema.Unknown)
})
export type RequestFrame = typeof RequestFrame.Type

export const ResponseFrame = Schema.Struct({
  type: Schema.Literal("res"),
  id: Schema.String,
  ok: Schema.Boolean,
  payload: Schema.optional(Schema.Unknown),
  error: Schema.optional(ErrorShape)
})
export type ResponseFrame = typeof ResponseFrame.Type

export const StateVersion = Schema.Struct({
  presence: Schema.Number,
  health: Schema.Number
})
export type StateVersion = typeof StateVersion.Type

export const EventFrame = Schema.Struct({
  type: Schema.Literal("event"),
  event: Schema.String,
  payload: Schema.optional(Schema.Unknown),
  seq: Schema.optional(Schema.Number),
  stateVersion: Schema.optional(StateVersion)
})
export type EventFrame = typeof EventFrame.Type

export const Frame = Schema.Union(RequestFrame, ResponseFrame, EventFrame)
export type Frame = typeof Frame.Type

export const Role = Schema.Literal("operator", "node")
export type Role = typeof Role.Type

/**
 * What a client says about itself is stored (devices, presence), listed to
 * operators and logged, so every string and list in connect is bounded.
 */
export const MAX_CLIENT_FIELD = 256
export const MAX_CONNECT_LIST = 512
const Bounded = Schema.String.pipe(Schema.maxLength(MAX_CLIENT_FIELD, { message: () => `must be at most ${MAX_CLIENT_FIELD} characters` }))
const BoundedList = Schema.Array(Bounded).pipe(
  Schema.maxItems(MAX_CONNECT_LIST, { message: () => `must have at most ${MAX_CONNECT_LIST} entries` })
)

export const ClientInfo = Schema.Struct({
  id: Bounded,
  version: Bounded,
  platform: Bounded,
  mode: Bounded,
  displayName: Schema.optional(Bounded),
  deviceFamily: Schema.optional(Bounded),
  modelIdentifier: Schema.optional(Bounded),
  instanceId: Schema.optional(Bounded)
})
export type ClientInfo = typeof ClientInfo.Type

/** A one-time dashboard code is at most this long (clawgate's are 43 characters). */
export const MAX_BOOTSTRAP_TOKEN = 256

export const ConnectAuth = Schema.Struct({
  token: Schema.optional(Schema.String),
  password: Schema.optional(Schema.String),
  deviceToken: Schema.optional(Schema.String),
  /** A one-time code from `clawgate dashboard` (OpenClaw's name): pairs the signing device, then stops working. */
  bootstrapToken: Schema.optional(
    Schema.String.pipe(Schema.maxLength(MAX_BOOTSTRAP_TOKEN, { message: () => `must be at most ${MAX_BOOTSTRAP_TOKEN} characters` }))
  )
})
export type ConnectAuth = typeof ConnectAuth.Type

export const DeviceProof = Schema.Struct({
  id: Schema.String,
  publicKey: Schema.String,
  signature: Schema.String,
  signedAt: Schema.Number,
  nonce: Schema.optional(Schema.String)
})
export type DeviceProof = typeof DeviceProof.Type

const Int = Schema.Number.pipe(Schema.int())

export const ConnectParams = Schema.Struct({
  minProtocol: Int,
  maxProtocol: Int,
  client: ClientInfo,
  role: Schema.optional(Role),
  scopes: Schema.optional(BoundedList),
  caps: Schema.optional(BoundedList),
  commands: Schema.optional(BoundedList),
  permissions: Schema.optional(
    Schema.Record({ key: Bounded, value: Schema.Boolean }).pipe(
      Schema.filter((r) => Object.keys(r).length <= MAX_CONNECT_LIST, { message: () => `must have at most ${MAX_CONNECT_LIST} entries` })
    )
  ),
  auth: Schema.optional(ConnectAuth),
  device: Schema.optional(DeviceProof),
  locale: Schema.optional(Bounded),
  userAgent: Schema.optional(Schema.String.pipe(Schema.maxLength(1024, { message: () => "must be at most 1024 characters" })))
})
export type ConnectParams = typeof ConnectParams.Type

export const Scope = Schema.Literal("operator.read", "operator.write", "operator.admin", "operator.pairing", "operator.approvals")
export type Scope = typeof Scope.Type
export const ALL_SCOPES: ReadonlyArray<Scope> = Scope.literals

export interface SessionDefaults {
  readonly defaultAgentId: string
  readonly mainKey: string
  readonly mainSessionKey: string
}

export interface HelloOk {
  readonly type: "hello-ok"
  readonly protocol: number
  readonly server: { readonly version: string; readonly connId: string; readonly host?: string }
  readonly features: { readonly methods: ReadonlyArray<string>; readonly events: ReadonlyArray<string> }
  readonly snapshot: {
    readonly presence: ReadonlyArray<unknown>
    readonly health: unknown
    readonly stateVersion: StateVersion
    readonly uptimeMs: number
    readonly sessionDefaults: SessionDefaults
  }
  readonly auth: {
    readonly method: string
    readonly role: Role
    readonly scopes: ReadonlyArray<string>
    readonly deviceToken?: string
  }
  readonly policy: {
    readonly maxPayload: number
    readonly maxBufferedBytes: number
    readonly tickIntervalMs: number
  }
}

export const HelloOkSchema = Schema.Struct({
  type: Schema.Literal("hello-ok"),
  protocol: Schema.Number,
  server: Schema.Struct({ version: Schema.String, connId: Schema.String }),
  features: Schema.optional(Schema.Struct({ methods: Schema.Array(Schema.String), events: Schema.Array(Schema.String) })),
  auth: Schema.optional(
    Schema.Struct({
      method: Schema.optional(Schema.String),
      role: Schema.optional(Schema.String),
      scopes: Schema.optional(Schema.Array(Schema.String)),
      deviceToken: Schema.optional(Schema.String)
    })
  ),
  policy: Schema.optional(
    Schema.Struct({
      maxPayload: Schema.optional(Schema.Number),
      maxBufferedBytes: Schema.optional(Schema.Number),
      tickIntervalMs: Schema.optional(Schema.Number)
    })
  )
})

export const decodeFrame = Schema.decodeUnknownEither(Frame)

/**
 * The RequestFrame check on the hot path: the same rule as the schema
 * (type "req", string id and method, any params, other fields ignored),
 * without building a parse result for every request.
 */
export const asRequestFrame = (frame: unknown): RequestFrame | undefined => {
  if (typeof frame !== "object" || frame === null) return undefined
  const f = frame as { type?: unknown; id?: unknown; method?: unknown }
  return f.type === "req" && typeof f.id === "string" && typeof f.method === "string" ? (frame as RequestFrame) : undefined
}
/** Connect params, or their issues (bounded: see issues.ts). */
export const decodeConnectParams = decodeExplained(ConnectParams)
export const decodeHelloOk = Schema.decodeUnknownEither(HelloOkSchema)
