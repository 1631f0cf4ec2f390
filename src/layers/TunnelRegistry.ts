/**
 * Running `clawgate tunnel` processes announce themselves in
 * `<stateDir>/tunnels/`, so other commands reuse their forward instead of
 * opening their own.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { createHash } from "node:crypto"
import { atomicWriteFile } from "../util/atomicWrite.js"
import { acceptsOnLoopback, processAlive } from "../util/net.js"
import { TunnelRegistry, type TunnelRecord } from "../services/TunnelRegistry.js"
import { Effect, Layer } from "effect"

export type { TunnelRecord } from "../services/TunnelRegistry.js"

const fileFor = (stateDir: string, target: string, remotePort: number) =>
  path.join(stateDir, "tunnels", `${createHash("sha256").update(`${target}|${remotePort}`).digest("hex").slice(0, 16)}.json`)

export const announceTunnel = (stateDir: string, record: TunnelRecord) =>
  atomicWriteFile(fileFor(stateDir, record.target, record.remotePort), JSON.stringify(record, null, 2) + "\n")

export const withdrawTunnel = (stateDir: string, target: string, remotePort: number) =>
  fs.rm(fileFor(stateDir, target, remotePort), { force: true })

/** A live tunnel to `target`/`remotePort` started by `clawgate tunnel`, if one is running. */
export const findTunnel = async (stateDir: string, target: string, remotePort: number): Promise<TunnelRecord | undefined> => {
  try {
    const record = JSON.parse(await fs.readFile(fileFor(stateDir, target, remotePort), "utf8")) as TunnelRecord
    return processAlive(record.pid) && (await acceptsOnLoopback(record.localPort)) ? record : undefined
  } catch {
    return undefined
  }
}

/** The registry in `<stateDir>/tunnels/`; a record that cannot be written only means no reuse, said in the log. */
export const TunnelRegistryFile = (stateDir: string) =>
  Layer.succeed(TunnelRegistry, {
    announce: (record) =>
      Effect.acquireRelease(
        Effect.tryPromise(() => announceTunnel(stateDir, record)).pipe(
          Effect.catchAll((e) => Effect.logWarning(`other commands will not reuse this tunnel: ${String(e.error)}`))
        ),
        () => Effect.promise(() => withdrawTunnel(stateDir, record.target, record.remotePort).catch(() => undefined))
      ),
    find: (target, remotePort) => Effect.promise(() => findTunnel(stateDir, target, remotePort))
  })
