/**
 * NodeCommands: the commands this machine serves as a node (`system.info`,
 * `system.notify`, `system.which`, `system.run.prepare`, allowlisted `system.run`). The node host program runs
 * invokes through this tag; `NodeCommandsLocal` runs them on this machine.
 */
import { Context, Data, type Effect } from "effect"

/** Why an invoke failed; `{code, message}` is what the node sends back as `error`. */
export class NodeCommandError extends Data.TaggedError("NodeCommandError")<{
  readonly code: "UNKNOWN_COMMAND" | "INVALID_PARAMS" | "SYSTEM_RUN_DENIED" | "ALLOWLIST_INVALID" | "UNAVAILABLE"
  readonly message: string
}> {}

export interface NodeCommandsService {
  /** What the node declares in its connect (the Gateway refuses anything else before it reaches the node). */
  readonly commands: ReadonlyArray<string>
  /** One line for the node host's log: what guards system.run. */
  readonly describe: string
  /** Runs one invoke; its params as the Gateway sent them (`paramsJSON`). */
  readonly invoke: (command: string, paramsJSON?: string | null | undefined) => Effect.Effect<unknown, NodeCommandError>
}

export class NodeCommands extends Context.Tag("clawgate/NodeCommands")<NodeCommands, NodeCommandsService>() {}
