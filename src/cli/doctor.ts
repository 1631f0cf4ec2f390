/**
 * `clawgate doctor [--fix] [--json]`: checks this state dir and its config (the profile's, with
 * --profile) without a running Gateway, and with --fix repairs file modes and a stale lock.
 * Exits 5 when a critical finding remains, as `security audit` does.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Layer } from "effect"
import type { DoctorReport } from "../programs/doctor.js"
import { ExitCode } from "../programs/errors.js"
import { configLayer, json, output } from "./shared.js"

/** `tailscale serve status` gets this long before doctor reports it as not answering. */
const TAILSCALE_TIMEOUT_MS = 5_000

/** The host probes and the Tailscale CLI, loaded on use as the other commands load theirs (the store's driver is not every command's). */
const probesLayer = Layer.unwrapEffect(
  Effect.promise(async () => {
    const [{ DoctorProbesLive }, { TailscaleCli }, { ServiceLayers }] = await Promise.all([
      import("../layers/ops/DoctorProbes.js"),
      import("../layers/TailscaleCli.js"),
      import("../layers/ops/ServiceManagerLive.js")
    ])
    return Layer.mergeAll(DoctorProbesLive, TailscaleCli({ commandTimeoutMs: TAILSCALE_TIMEOUT_MS }), ServiceLayers(process.env))
  })
)

let render: (r: DoctorReport) => string = () => ""

export const doctorCommand = Command.make(
  "doctor",
  {
    fix: Options.boolean("fix").pipe(
      Options.withDescription("Repair what is safe to repair: file modes (chmod go-rwx, never through a link) and a stale lock")
    ),
    json
  },
  (opts) =>
    output(
      Effect.gen(function* () {
        // The doctor is loaded by this command only: every other command starts without it.
        const { doctor, renderDoctor } = yield* Effect.promise(() => import("../programs/doctor.js"))
        render = renderDoctor
        const report = yield* doctor({ fix: opts.fix })
        if (report.summary.critical > 0) process.exitCode = ExitCode.securityCritical
        return report
      }).pipe(Effect.provide(probesLayer), Effect.provide(configLayer)),
      opts.json,
      (r) => render(r)
    )
).pipe(
  Command.withDescription(
    "Check the config, file modes, lock, port, TLS, credentials, ssh/tailscale, store and pairing requests, each with its fix; --fix repairs modes and a stale lock; exit 5 on a critical finding"
  )
)
