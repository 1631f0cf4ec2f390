/**
 * ControlUi: the browser UI served on the Gateway's own port (under
 * `gateway.controlUi.basePath`), and what start-up found: the files loaded,
 * turned off by config, or not built.
 */
import { Context } from "effect"

export interface ControlUiService {
  /**
   * `serving`: the files are in memory and answered from there; `disabled`: `gateway.controlUi.enabled`
   * is false (nothing is served, 404); `unbuilt`: the files are missing or do not match their manifest
   * (every page under basePath answers 503 with what to run).
   */
  readonly state: "serving" | "disabled" | "unbuilt"
  /** Normalised: "/" or "/prefix/". */
  readonly basePath: string
  /** The directory the files were read from. */
  readonly root: string
  /** Why it is not serving (unbuilt, disabled), in words for the log. */
  readonly detail?: string | undefined
  /** How many files, and their bytes uncompressed, it holds in memory. */
  readonly files: number
  readonly bytes: number
  /** How long start-up spent reading and checking them. */
  readonly loadMs: number
}

export class ControlUi extends Context.Tag("clawgate/ControlUi")<ControlUi, ControlUiService>() {}
