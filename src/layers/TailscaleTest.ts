/**
 * An in-memory Tailscale for unit tests: `whois` answers from a table (an
 * address not in it fails as `tailscale whois` does), and every call is
 * recorded.
 */
import { Effect, Layer, Option } from "effect"
import { Tailscale, TailscaleError } from "../services/Tailscale.js"

export interface TailscaleTestCalls {
  readonly calls: Array<string>
}

/** `logins`: address → login (null for a node without a user). */
export const TailscaleTest = (logins: Record<string, string | null> = {}, record: TailscaleTestCalls = { calls: [] }) =>
  Layer.succeed(
    Tailscale,
    Tailscale.of({
      serve: ({ funnel, target }) => Effect.sync(() => void record.calls.push(`${funnel ? "funnel" : "serve"} ${target}`)),
      reset: ({ funnel }) => Effect.sync(() => void record.calls.push(`${funnel ? "funnel" : "serve"} reset`)),
      whois: (ip) =>
        Effect.suspend(() => {
          record.calls.push(`whois ${ip}`)
          if (!(ip in logins)) {
            return Effect.fail(new TailscaleError({ reason: "Failed", command: `tailscale whois --json ${ip}`, message: `no peer ${ip}` }))
          }
          const login = logins[ip]
          return Effect.succeed(login === null || login === undefined ? Option.none() : Option.some(login))
        }),
      serveStatus: Effect.sync(() => {
        record.calls.push("serve status")
        // What the last serve, funnel or reset left behind.
        const last = record.calls.filter((c) => /^(serve|funnel) /.test(c) && c !== "serve status").at(-1)
        const serving = last !== undefined && !last.endsWith(" reset")
        return { serving, funnel: serving && last.startsWith("funnel "), proxies: serving ? [last.split(" ")[1] ?? ""] : [] }
      })
    })
  )
