/**
 * `clawgate gateway install | uninstall | start | stop | restart`: the Gateway as a systemd user
 * unit (Linux) or launchd agent (macOS), for the profile the command runs with.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Layer } from "effect"
import {
  gatewayStop,
  renderInstall,
  renderStop,
  renderUninstall,
  serviceInstall,
  serviceRestart,
  serviceStart,
  serviceUninstall
} from "../programs/service.js"
import type { ConfigStore } from "../services/Config.js"
import type { GatewayHolder, ServiceManager } from "../services/ServiceManager.js"
import { configLayer, json, output } from "./shared.js"

/** This platform's ServiceManager and the state dir's GatewayHolder (loaded only by these commands). */
export const serviceLayers = Layer.unwrapEffect(
  Effect.map(
    Effect.promise(() => import("../layers/ops/ServiceManagerLive.js")),
    (m) => m.ServiceLayers(process.env)
  )
)

const run = <A, E>(effect: Effect.Effect<A, E, ServiceManager | GatewayHolder | ConfigStore>, asJson: boolean, render: (a: A) => string) =>
  output(effect.pipe(Effect.provide(serviceLayers), Effect.provide(configLayer)), asJson, render)

export const installCommand = Command.make(
  "install",
  {
    force: Options.boolean("force").pipe(
      Options.withDescription("Replace an installed unit that differs from the one this clawgate writes")
    ),
    json
  },
  (opts) => run(serviceInstall(opts.force), opts.json, renderInstall)
).pipe(
  Command.withDescription(
    "Install the Gateway as a service (systemd user unit on Linux, launchd agent on macOS), enable it and start it; no secrets go into the unit"
  )
)

export const uninstallCommand = Command.make("uninstall", { json }, (opts) => run(serviceUninstall, opts.json, renderUninstall)).pipe(
  Command.withDescription("Stop and disable the Gateway's service and remove its unit")
)

export const startCommand = Command.make("start", { json }, (opts) => run(serviceStart, opts.json, (r) => `started ${r.name}`)).pipe(
  Command.withDescription("Start the installed service")
)

export const restartCommand = Command.make("restart", { json }, (opts) =>
  run(serviceRestart, opts.json, (r) => `restarted ${r.name}`)
).pipe(Command.withDescription("Restart the installed service (after an upgrade, say)"))

export const stopCommand = Command.make(
  "stop",
  {
    force: Options.boolean("force").pipe(
      Options.withDescription("Without a service: SIGKILL the Gateway if it has not exited 30 s after SIGTERM")
    ),
    json
  },
  (opts) => run(gatewayStop({ timeoutMs: 30_000, force: opts.force }), opts.json, renderStop)
).pipe(
  Command.withDescription(
    "Stop the Gateway: through its service when one runs, else the Gateway holding the state dir's lock gets SIGTERM and is waited for"
  )
)
