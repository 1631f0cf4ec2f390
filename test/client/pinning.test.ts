/**
 * TLS pinning, client side: a TLS front (a proxy that terminates TLS with a
 * throwaway certificate and records every decrypted byte) before a real
 * Gateway. With the right pin the CLI works through it; with a wrong pin the
 * front receives not one byte of HTTP, and the CLI does not retry.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as tls from "node:tls"
import * as crypto from "node:crypto"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../support/cli.js"
import { startGateway, tempDir, TOKEN } from "../support/gateway.js"

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures")
const cert = fs.readFileSync(path.join(fixtures, "tls-cert.pem"))
const key = fs.readFileSync(path.join(fixtures, "tls-key.pem"))
const FINGERPRINT = new crypto.X509Certificate(cert).fingerprint256

const tlsFront = (targetPort: number) =>
  Effect.acquireRelease(
    Effect.async<{ port: number; connections: () => number; bytes: () => Buffer; allClosed: () => Promise<void>; server: tls.Server }>(
      (resume) => {
        let handshakes = 0
        let closes = 0
        const waiting: Array<() => void> = []
        const settle = () => {
          if (closes === handshakes) for (const w of waiting.splice(0)) w()
        }
        const received: Array<Buffer> = []
        const server = tls.createServer({ cert, key, minVersion: "TLSv1.3" }, (socket) => {
          const upstream = net.connect(targetPort, "127.0.0.1")
          socket.on("data", (d: Buffer) => received.push(d))
          socket.pipe(upstream).pipe(socket)
          socket.on("error", () => upstream.destroy())
          upstream.on("error", () => socket.destroy())
        })
        // Every TCP connection, so a retry would show.
        server.on("connection", (raw: net.Socket) => {
          handshakes++
          raw.once("close", () => {
            closes++
            settle()
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resume(
            Effect.succeed({
              port: (server.address() as net.AddressInfo).port,
              connections: () => handshakes,
              bytes: () => Buffer.concat(received),
              // Every connection the front saw has closed: no byte can arrive after this.
              allClosed: () =>
                new Promise<void>((r) => {
                  waiting.push(r)
                  settle()
                }),
              server
            })
          )
        )
      }
    ),
    ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

describe("--tls-fingerprint", () => {
  it.scopedLive("the right pin (any notation) connects through wss://", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const front = yield* tlsFront(gw.port)
      const dir = yield* tempDir()
      for (const pin of [FINGERPRINT, `sha256:${FINGERPRINT.replaceAll(":", "").toLowerCase()}`]) {
        const res = yield* runCli(
          ["health", "--url", `wss://127.0.0.1:${front.port}`, "--token", TOKEN, "--tls-fingerprint", pin, "--json"],
          { CLAWGATE_STATE_DIR: dir }
        )
        expect(res.stderr).toBe("")
        expect(JSON.parse(res.stdout).health.ok).toBe(true)
      }
      expect(front.bytes().toString()).toContain("Upgrade: websocket")
    })
  )

  it.scopedLive("a wrong pin sends no HTTP byte and no credential, names both fingerprints, and does not retry", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const front = yield* tlsFront(gw.port)
      const dir = yield* tempDir()
      const wrong = "sha256:" + "ab".repeat(32)
      const res = yield* runCli(["health", "--url", `wss://127.0.0.1:${front.port}`, "--token", TOKEN, "--tls-fingerprint", wrong], {
        CLAWGATE_STATE_DIR: dir
      })
      expect(res.code).toBe(4)
      expect(res.stderr).toContain(`expected sha256:${"ab".repeat(32)}`)
      expect(res.stderr).toContain(`presented sha256:${FINGERPRINT.replaceAll(":", "").toLowerCase()}`)
      expect(res.stderr).toContain("Nothing was sent")
      // Once the one connection is closed, nothing more can come through it.
      yield* Effect.promise(() => front.allClosed())
      expect(front.connections()).toBe(1)
      expect(front.bytes().length).toBe(0)
    })
  )
})
