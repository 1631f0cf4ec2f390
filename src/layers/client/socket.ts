/**
 * GatewayClientRemote's socket: the WebSocket to the Gateway (closed with its
 * scope), TLS pinning for a wss:// URL with a fingerprint, and how a failure
 * to reach the Gateway is said, naming where the URL came from.
 */
import * as tls from "node:tls"
import { createHash } from "node:crypto"
import { Effect } from "effect"
import WebSocket from "ws"
import { normalizeFingerprint, type Target } from "../../config/target.js"
import { CloseCode, MAX_PAYLOAD } from "../../protocol/frames.js"
import { GatewayClientError, type TargetInfo } from "../../services/GatewayClient.js"

export const targetInfo = (t: Target): TargetInfo => ({
  url: t.url,
  urlSource: t.urlSource,
  mode: t.mode,
  authSource: t.authSource
})

export const describeWhere = (t: Target) => `${t.url} (from ${t.urlSource})`

/** The SHA-256 of the certificate's DER, as normalised hex. */
export const certFingerprint = (cert: tls.PeerCertificate): string => createHash("sha256").update(cert.raw).digest("hex")

/**
 * For a pinned wss:// URL, finish the TLS handshake ourselves and compare the
 * certificate before handing the socket to `ws`: nothing (no HTTP byte, no
 * credential) is written to a server whose certificate does not match.
 */
export const pinnedTlsSocket = (target: Target, fingerprint: string, url: URL, timeoutMs: number) =>
  Effect.async<tls.TLSSocket, GatewayClientError>((resume) => {
    const expected = normalizeFingerprint(fingerprint)
    const host = url.hostname.replace(/^\[|\]$/g, "")
    const socket = tls.connect({
      host,
      port: Number(url.port || 443),
      servername: /^[\d.:]+$/.test(host) ? undefined : host,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      ALPNProtocols: ["http/1.1"]
    } as tls.ConnectionOptions)
    const timer = setTimeout(() => {
      socket.destroy()
      resume(
        Effect.fail(
          new GatewayClientError({
            reason: "Connect",
            target: targetInfo(target),
            message: `TLS handshake with ${describeWhere(target)} timed out after ${timeoutMs} ms`
          })
        )
      )
    }, timeoutMs)
    socket.once("secureConnect", () => {
      clearTimeout(timer)
      const cert = socket.getPeerCertificate(false)
      const presented = cert?.raw ? certFingerprint(cert) : "(none)"
      if (presented !== expected) {
        socket.destroy()
        return resume(
          Effect.fail(
            new GatewayClientError({
              reason: "TlsPin",
              target: targetInfo(target),
              message:
                `TLS certificate fingerprint mismatch for ${describeWhere(target)}: expected sha256:${expected} ` +
                `(from ${target.tlsFingerprintSource}), server presented sha256:${presented}. Nothing was sent. ` +
                `If the Gateway's certificate changed on purpose, update the pin (clawgate gateway tls fingerprint on the Gateway host).`
            })
          )
        )
      }
      resume(Effect.succeed(socket))
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      resume(
        Effect.fail(
          new GatewayClientError({
            reason: "Connect",
            target: targetInfo(target),
            message: `cannot reach ${describeWhere(target)}: ${e.message}`
          })
        )
      )
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

export const connectError = (target: Target, e: unknown): GatewayClientError => {
  const err = e as NodeJS.ErrnoException
  const hint =
    err.code === "ECONNREFUSED"
      ? target.mode === "local"
        ? `is the Gateway running? Start it with \`clawgate ${target.profile ? `--profile ${target.profile} ` : ""}gateway run\`${target.profile ? "" : " (or `npm start`)"}`
        : "is the Gateway running and reachable there? (an SSH tunnel may be down)"
      : err.code === "ENOTFOUND"
        ? "the host name does not resolve"
        : err.code === "ETIMEDOUT"
          ? "the host did not answer"
          : undefined
  return new GatewayClientError({
    reason: "Connect",
    target: targetInfo(target),
    message: `cannot reach the Gateway at ${describeWhere(target)}: ${err.code ?? err.message ?? String(e)}${hint ? ` — ${hint}` : ""}`
  })
}

/**
 * The WebSocket, over the pinned TLS socket when there is one; released by
 * closing it (terminated if it is still connecting or does not close within a second).
 */
export const openSocket = (target: Target, connectTimeoutMs: number, preconnected: tls.TLSSocket | undefined) =>
  Effect.acquireRelease(
    Effect.sync(
      () =>
        new WebSocket(target.url, {
          maxPayload: MAX_PAYLOAD,
          perMessageDeflate: false,
          handshakeTimeout: connectTimeoutMs,
          ...(preconnected ? { createConnection: () => preconnected } : {})
        } as WebSocket.ClientOptions)
    ),
    (ws) =>
      Effect.async<void>((resume) => {
        if (ws.readyState === WebSocket.CLOSED) return resume(Effect.void)
        const t = setTimeout(() => {
          ws.terminate()
          resume(Effect.void)
        }, 1000)
        ws.once("close", () => {
          clearTimeout(t)
          resume(Effect.void)
        })
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate()
        else ws.close(CloseCode.normal)
      })
  )
