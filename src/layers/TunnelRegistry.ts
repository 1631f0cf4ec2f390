/**
 * Running `clawgate tunnel` processes announce themselves in
 * `<stateDir>/tunnels/`, so other commands reuse their forward instead of
 * opening their own.
 */
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { createHash } from "node:crypto"
import { atomicWriteFile } from "../util/atomicWrite.js"

export interface TunnelRecord {
  readonly pid: number
  readonly localPort: number
  readonly target: string
  readonly remotePort: number
  readonly startedAtMs: number
}

const fileFor = (stateDir: string, target: string, remotePort: number) =>
  path.join(stateDir, "tunnels", `${createHash("sha256").update(`${target}|${remotePort}`).digest("hex").slice(0, 16)}.json`)

export const announceTunnel = (stateDir: string, record: TunnelRecord) =>
  atomicWriteFile(fileFor(stateDir, record.target, record.remotePort), JSON.stringify(record, null, 2) + "\n")

export const withdrawTunnel = (stateDir: string, target: string, remotePort: number) =>
  fs.rm(fileFor(stateDir, target, remotePort), { force: true })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port })
    s.once("connect", () => (s.destroy(), resolve(true)))
    s.once("error", () => resolve(false))
  })

/** A live tunnel to `target`/`remotePort` started by `clawgate tunnel`, if one is running. */
export const findTunnel = async (stateDir: string, target: string, remotePort: number): Promise<TunnelRecord | undefined> => {
  try {
    const record = JSON.parse(await fs.readFile(fileFor(stateDir, target, remotePort), "utf8")) as TunnelRecord
    return alive(record.pid) && (await accepts(record.localPort)) ? record : undefined
  } catch {
    return undefined
  }
}
