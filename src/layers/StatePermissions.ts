/**
 * At start, the Gateway takes its files back: the config file, the state
 * directory and everything in it (the database, device keys and tokens, TLS
 * key, logs) lose every group and world permission, so they end up 0600
 * (files) and 0700 (directories). `security audit` reports such files as
 * critical; the Gateway does not run on them as they are. Symbolic links are
 * never followed: a link is reported and left alone.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { ConfigStore } from "../services/Config.js"
import { MEMORY_STATE_DIR } from "./ConfigMemory.js"

/** At most this many entries are looked at (the state dir holds a handful). */
const MAX_ENTRIES = 2_000
/** The state dir and two levels below it (identity/, logs/, tls/, node/ and their files). */
const MAX_DEPTH = 2

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, "0")

/** Removes group and other permissions from `target` (not following a link); returns what it did, if anything. */
export const tighten = (target: string, st: fs.Stats): string | undefined => {
  const loose = st.mode & 0o077
  if (loose === 0) return undefined
  const next = st.mode & 0o700
  try {
    fs.chmodSync(target, next)
    return `tightened ${target} from ${octal(st.mode)} to ${octal(next)} (it was readable or writable by other users)`
  } catch (e) {
    return `cannot tighten ${target} (${octal(st.mode)}): ${(e as Error).message}; fix it with chmod go-rwx`
  }
}

export const tightenState = (configPath: string, stateDir: string): Array<string> => {
  const notes: Array<string> = []
  let seen = 0
  const visit = (target: string, depth: number) => {
    if (++seen > MAX_ENTRIES) return
    let st: fs.Stats
    try {
      st = fs.lstatSync(target)
    } catch {
      return
    }
    if (st.isSymbolicLink()) {
      // The state dir itself may be a link the user made (to another disk); anything inside is not followed.
      if (depth > 0) notes.push(`left ${target} alone: it is a symbolic link, which the Gateway does not follow`)
      else visit(fs.realpathSync(target), depth)
      return
    }
    if (!st.isFile() && !st.isDirectory()) return
    const note = tighten(target, st)
    if (note) notes.push(note)
    if (st.isDirectory() && depth < MAX_DEPTH) {
      let names: Array<string> = []
      try {
        names = fs.readdirSync(target)
      } catch {
        return
      }
      for (const name of names) visit(path.join(target, name), depth + 1)
    }
  }
  if (stateDir !== MEMORY_STATE_DIR) visit(stateDir, 0)
  if (path.dirname(configPath) !== stateDir && fs.existsSync(configPath)) {
    const st = fs.lstatSync(configPath)
    if (st.isFile()) {
      const note = tighten(configPath, st)
      if (note) notes.push(note)
    }
  }
  return notes
}

/** Tightened once, when the Gateway's layers are built, before the store or the log opens a file. */
export class StatePermissions extends Effect.Service<StatePermissions>()("clawgate/StatePermissions", {
  effect: Effect.map(ConfigStore, (config) => ({ notes: tightenState(config.paths.configPath, config.paths.stateDir) }))
}) {}
