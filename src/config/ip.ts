/** Addresses as the Gateway compares them: pure functions, imported by the config schema and the transport alike. */
import * as net from "node:net"

export const isLoopbackAddress = (addr: string | undefined): boolean => {
  if (!addr) return false
  const a = addr.startsWith("::ffff:") ? addr.slice(7) : addr
  if (a === "::1" || a === "localhost") return true
  return net.isIPv4(a) && a.startsWith("127.")
}

export const normalizeIp = (addr: string | undefined): string => {
  if (!addr) return "unknown"
  return addr.startsWith("::ffff:") && net.isIPv4(addr.slice(7)) ? addr.slice(7) : addr
}
