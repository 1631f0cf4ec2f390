/**
 * Where the Gateway listens: port and bind-mode resolution, as the protocol
 * defines them. Pure functions, so every rule is unit-tested.
 */
import * as net from "node:net"
import * as os from "node:os"
import type { BindMode, ClawgateConfig } from "./schema.js"
import type { ConfigEnv } from "../services/Config.js"

export const DEFAULT_PORT = 18789

export interface PortChoice {
  readonly port: number
  readonly source: string
}

export class SettingError extends Error {
  override readonly name = "SettingError"
}

const parsePort = (value: string, source: string): number => {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new SettingError(`${source} must be a port number from 1 to 65535 (got ${JSON.stringify(value)})`)
  }
  return n
}

/** `--port` > `CLAWGATE_GATEWAY_PORT` (or `OPENCLAW_GATEWAY_PORT`) > `gateway.port` > the profile's default > 18789. */
export const resolvePort = (flag: number | undefined, env: ConfigEnv, config: ClawgateConfig): PortChoice => {
  if (flag !== undefined) {
    if (!Number.isInteger(flag) || flag < 0 || flag > 65535) {
      throw new SettingError(`--port must be a port number from 1 to 65535 (got ${flag})`)
    }
    return { port: flag, source: "--port" }
  }
  if (env.port) return { port: parsePort(env.port.value, env.port.name), source: env.port.name }
  if (config.gateway?.port !== undefined) return { port: config.gateway.port, source: "gateway.port" }
  if (env.profile) return { port: env.profile.defaultPort, source: `the default of profile ${env.profile.name}` }
  return { port: DEFAULT_PORT, source: "default" }
}

import { isLoopbackAddress } from "./ip.js"

export { isLoopbackAddress, normalizeIp } from "./ip.js"

const TAILNET_IPV4 = new net.BlockList()
TAILNET_IPV4.addSubnet("100.64.0.0", 10, "ipv4")

/** True for an IPv4 address in 100.64.0.0/10, the range Tailscale assigns. */
export const isTailnetIPv4 = (addr: string): boolean => net.isIPv4(addr) && TAILNET_IPV4.check(addr, "ipv4")

export const findTailnetAddress = (
  interfaces: NodeJS.Dict<Array<os.NetworkInterfaceInfo>> = os.networkInterfaces()
): string | undefined => {
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) if (info.family === "IPv4" && isTailnetIPv4(info.address)) return info.address
  }
  return undefined
}

export interface BindPlan {
  readonly mode: BindMode
  /** Addresses to listen on; the first must succeed, later ones are best effort. */
  readonly hosts: ReadonlyArray<string>
  readonly loopbackOnly: boolean
}

/**
 * Turns `gateway.bind` into addresses. `auto` is settled by the caller (it
 * tries loopback first); here it means loopback.
 */
export const planBind = (mode: BindMode, config: ClawgateConfig, interfaces?: NodeJS.Dict<Array<os.NetworkInterfaceInfo>>): BindPlan => {
  switch (mode) {
    case "loopback":
    case "auto":
      return { mode, hosts: ["127.0.0.1", "::1"], loopbackOnly: true }
    case "lan":
      return { mode, hosts: ["0.0.0.0"], loopbackOnly: false }
    case "tailnet": {
      const addr = findTailnetAddress(interfaces)
      if (!addr) {
        throw new SettingError(
          'gateway.bind is "tailnet" but this host has no Tailscale IPv4 address (100.64.0.0/10): start Tailscale, or use --bind loopback with Tailscale Serve'
        )
      }
      return { mode, hosts: [addr], loopbackOnly: false }
    }
    case "custom": {
      const host = config.gateway?.customBindHost
      if (!host) {
        throw new SettingError('gateway.bind is "custom" but gateway.customBindHost is not set: set it to the address to listen on')
      }
      return { mode, hosts: [host], loopbackOnly: isLoopbackAddress(host) }
    }
  }
}
