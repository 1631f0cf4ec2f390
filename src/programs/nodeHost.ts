/**
 * `clawgate node run`: the node host. Connects to the Gateway as a node
 * (role "node", signed with this machine's device identity), serves the
 * commands in src/node/commands.ts for each `node.invoke.request`, and
 * reconnects forever with exponential backoff. Every state change is one line
 * on stderr.
 */
import { randomUUID } from "node:crypto"
import { Cause, Clock, Console, Duration, Effect, Either, FiberMap, Predicate, Schedule, Stream } from "effect"
import type { Target } from "../config/target.js"
import { NodeCommandError, NodeCommands, type NodeCommandsService } from "../services/NodeCommands.js"
import { DeviceIdentity } from "../services/DeviceIdentity.js"
import { type GatewayClientError, type GatewayClientService, GatewayConnector } from "../services/GatewayClient.js"
import { backoffDelays, startingOver } from "../util/backoff.js"

export interface NodeHostOptions {
  readonly target: Target
  /** Shown as the node's display name on the Gateway. */
  readonly name?: string | undefined
  readonly connectTimeoutMs?: number | undefined
}

// ---------------------------------------------------------------------------
// Reconnect backoff

export const BACKOFF_INITIAL = Duration.seconds(1)
export const BACKOFF_MAX = Duration.seconds(30)
/** A session that lasted longer than this starts the backoff over at 1 s. */
export const BACKOFF_RESET_AFTER = Duration.seconds(10)

/**
 * 1 s, 2 s, 4 s, ... doubling, capped at 30 s. With `jitter` (the default)
 * each delay below the cap is spread by ±10% so nodes do not reconnect in step.
 */
export const reconnectSchedule = (options: { readonly jitter?: boolean } = {}): Schedule.Schedule<Duration.Duration> =>
  backoffDelays({ initial: BACKOFF_INITIAL, max: BACKOFF_MAX, jitter: options.jitter !== false })

/** How one attempt ended, for the schedule: connected or not, and for how long. */
export interface SessionEnded {
  readonly connected: boolean
  readonly lastedMillis: number
}

/**
 * The delays between attempts: `delays` (default `reconnectSchedule()`),
 * started over at the first delay after a session that lasted more than 10 s.
 */
export const keepConnectedSchedule = (
  delays: Schedule.Schedule<Duration.Duration> = reconnectSchedule()
): Schedule.Schedule<readonly [Duration.Duration, SessionEnded], SessionEnded> =>
  startingOver(delays, (ended: SessionEnded) => ended.connected && ended.lastedMillis > Duration.toMillis(BACKOFF_RESET_AFTER))

const seconds = (d: Duration.Duration) => {
  const tenths = Math.round(Duration.toMillis(d) / 100) / 10
  return `${tenths} s`
}

/** One line for why a connect attempt failed, with what to do about it. */
export const describeConnectFailure = (e: GatewayClientError): string => {
  if (e.reason === "NotPaired") {
    const details = e.error?.details
    const requestId =
      Predicate.hasProperty(details, "requestId") && typeof details.requestId === "string" ? details.requestId : "<requestId>"
    return `waiting for approval: run \`clawgate devices approve ${requestId}\` on the Gateway host`
  }
  if (e.reason === "Auth") return `authentication failed: ${e.message}`
  return `cannot connect: ${e.message}`
}

export interface KeepConnectedOptions<R> {
  /**
   * One session: fails with the connect error, or succeeds with why an
   * established connection ended.
   */
  readonly session: Effect.Effect<GatewayClientError, GatewayClientError, R>
  /** Logs `connecting ...` before each attempt. */
  readonly connecting: Effect.Effect<void>
  readonly log: (line: string) => Effect.Effect<void>
  readonly schedule?: Schedule.Schedule<Duration.Duration> | undefined
}

/**
 * Runs sessions forever: after each one, waits the next backoff delay (reset
 * after a session that lasted longer than 10 s) and tries again. A Target
 * error (bad URL or flags) and a TLS pin mismatch stop it: a certificate that
 * is not the pinned one will not become the pinned one by retrying, and every
 * retry would offer a connection to whoever holds it.
 */
export const keepConnected = <R>(options: KeepConnectedOptions<R>): Effect.Effect<never, GatewayClientError, R> => {
  // One attempt: fails only when retrying cannot help, else says how it ended.
  const attempt = Effect.gen(function* () {
    yield* options.connecting
    const started = yield* Clock.currentTimeMillis
    const outcome = yield* Effect.either(options.session)
    const lastedMillis = (yield* Clock.currentTimeMillis) - started
    if (Either.isLeft(outcome)) {
      if (outcome.left.reason === "Target" || outcome.left.reason === "TlsPin") return yield* outcome.left
      yield* options.log(describeConnectFailure(outcome.left))
    } else {
      yield* options.log(`disconnected: ${outcome.right.message}`)
    }
    return { connected: Either.isRight(outcome), lastedMillis } satisfies SessionEnded
  })
  const schedule = keepConnectedSchedule(options.schedule).pipe(Schedule.tapOutput(([delay]) => options.log(`retry in ${seconds(delay)}`)))
  // The schedule never ends: this runs until a terminal error or interruption.
  return Effect.repeat(attempt, schedule).pipe(Effect.zipRight(Effect.never))
}

// ---------------------------------------------------------------------------
// Invokes

export interface InvokeRequest {
  readonly id: string
  readonly nodeId: string
  readonly command: string
  readonly paramsJSON?: string | null | undefined
  readonly timeoutMs?: number | undefined
  readonly idempotencyKey?: string | undefined
}

const asInvokeRequest = (p: unknown): InvokeRequest | undefined => {
  if (!Predicate.isRecord(p)) return undefined
  if (typeof p.id !== "string" || typeof p.nodeId !== "string" || typeof p.command !== "string") return undefined
  const paramsJSON =
    typeof p.paramsJSON === "string" ? p.paramsJSON : p.params !== undefined && p.params !== null ? JSON.stringify(p.params) : undefined
  return {
    id: p.id,
    nodeId: p.nodeId,
    command: p.command,
    paramsJSON,
    timeoutMs: typeof p.timeoutMs === "number" ? p.timeoutMs : undefined,
    idempotencyKey: typeof p.idempotencyKey === "string" ? p.idempotencyKey : undefined
  }
}

/** Runs one invoke and answers it with `node.invoke.result`. Never fails. */
export const handleInvoke = (
  request: GatewayClientService["request"],
  dispatch: NodeCommandsService["invoke"],
  invoke: InvokeRequest,
  log: (line: string) => Effect.Effect<void>
): Effect.Effect<void> =>
  dispatch(invoke.command, invoke.paramsJSON).pipe(
    Effect.map((result) => ({ id: invoke.id, nodeId: invoke.nodeId, ok: true, payloadJSON: JSON.stringify(result ?? null) })),
    Effect.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      const error =
        failure._tag === "Some" && failure.value instanceof NodeCommandError
          ? failure.value
          : new NodeCommandError({ code: "UNAVAILABLE", message: `${invoke.command} failed on the node: ${Cause.pretty(cause)}` })
      return Effect.succeed({
        id: invoke.id,
        nodeId: invoke.nodeId,
        ok: false,
        error: { code: error.code, message: error.message }
      })
    }),
    Effect.flatMap((result) => request("node.invoke.result", result)),
    Effect.catchAll((e) => log(`could not answer invoke ${invoke.id} (${invoke.command}): ${e.message}`)),
    Effect.asVoid
  )

// ---------------------------------------------------------------------------
// The program

const log = (line: string) => Console.error(`[node] ${line}`)

/** Runs the node host until interrupted; fails only on a Target error. */
export const runNodeHost = (
  options: NodeHostOptions
): Effect.Effect<never, GatewayClientError, DeviceIdentity | GatewayConnector | NodeCommands> =>
  Effect.gen(function* () {
    const device = yield* DeviceIdentity
    const { connect: connectRemote } = yield* GatewayConnector
    const nodeCommands = yield* NodeCommands
    const dispatch = nodeCommands.invoke
    const instanceId = randomUUID()
    const target = options.target

    const session = Effect.scoped(
      Effect.gen(function* () {
        const connection = yield* connectRemote({
          target,
          role: "node",
          scopes: [],
          client: {
            id: "node-host",
            mode: "node",
            instanceId,
            ...(options.name ? { displayName: options.name } : {})
          },
          caps: [],
          commands: nodeCommands.commands,
          device,
          connectTimeoutMs: options.connectTimeoutMs
        })
        // One fiber per invoke, keyed by its id, so node.invoke.cancel (sent when the
        // Gateway gave up waiting) stops it, killing a running program with it.
        const invokes = yield* FiberMap.make<string>()
        yield* connection.events.pipe(
          Stream.runForEach((frame) => {
            if (frame.event === "node.invoke.cancel") {
              const id = Predicate.hasProperty(frame.payload, "invokeId") ? frame.payload.invokeId : undefined
              return typeof id === "string"
                ? Effect.zipRight(FiberMap.remove(invokes, id), log(`invoke ${id} cancelled by the Gateway (timed out there)`))
                : Effect.void
            }
            if (frame.event !== "node.invoke.request") return Effect.void
            const invoke = asInvokeRequest(frame.payload)
            return invoke
              ? FiberMap.run(invokes, invoke.id, handleInvoke(connection.request, dispatch, invoke, log))
              : log(`ignored a malformed node.invoke.request: ${JSON.stringify(frame.payload)}`)
          }),
          Effect.forkScoped
        )
        yield* log(
          `connected as nodeId ${device.deviceId}${options.name ? ` (${options.name})` : ""} to ${target.url}; ` +
            `serving ${nodeCommands.commands.join(", ")}; ${nodeCommands.describe}`
        )
        return yield* connection.closed
      })
    )

    return yield* keepConnected({
      session,
      connecting: log(`connecting to ${target.url} (from ${target.urlSource})`),
      log
    })
  })
