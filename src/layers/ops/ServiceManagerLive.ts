/**
 * The ServiceManager for this platform, picked at the edge: a systemd user unit on Linux, a
 * launchd agent on macOS; elsewhere one whose every action fails saying so. Also the GatewayHolder
 * of the state dir Config names.
 */
import * as os from "node:os"
import { Effect, Layer } from "effect"
import { ConfigStore } from "../../services/Config.js"
import { ServiceError, ServiceManager, type ServiceManagerService } from "../../services/ServiceManager.js"
import { GatewayHolderFile } from "./GatewayHolderFile.js"
import { LaunchdAgent } from "./LaunchdAgent.js"
import { currentServiceSpec, launchAgentsDir, systemdUserDir } from "./ServiceUnit.js"
import { SystemdUser } from "./SystemdUser.js"

type Env = Readonly<Record<string, string | undefined>>

/** Every action fails with `reason`; status says the same. */
export const ServiceManagerUnsupported = (message: string): Layer.Layer<ServiceManager> => {
  const fail = Effect.fail(new ServiceError({ reason: "Unsupported", message }))
  const service: ServiceManagerService = {
    manager: "unsupported",
    name: "",
    unitPath: "",
    expected: "",
    install: () => fail,
    uninstall: fail,
    start: fail,
    stop: fail,
    restart: fail,
    status: Effect.succeed({ manager: "unsupported", name: "", unitPath: "", installed: false, error: message })
  }
  return Layer.succeed(ServiceManager, service)
}

export const ServiceManagerFor = (
  platform: NodeJS.Platform,
  profile: string | undefined,
  stateDir: string,
  env: Env
): Layer.Layer<ServiceManager> => {
  if (platform !== "linux" && platform !== "darwin") {
    return ServiceManagerUnsupported(
      `running the Gateway as a service is supported on Linux (systemd user units) and macOS (launchd), not on ${platform}: run \`clawgate gateway run\` under your own supervisor`
    )
  }
  const spec = currentServiceSpec(profile, stateDir, env)
  if ("error" in spec) return ServiceManagerUnsupported(spec.error)
  const home = env.HOME?.startsWith("/") ? env.HOME : os.homedir()
  return platform === "darwin"
    ? LaunchdAgent({ spec, agentsDir: launchAgentsDir(home) })
    : SystemdUser({ spec, unitDir: systemdUserDir(env, home) })
}

/** This platform's ServiceManager and the GatewayHolder, for the profile and state dir Config names. */
export const ServiceLayers = (env: Env = process.env) =>
  Layer.unwrapEffect(
    Effect.map(ConfigStore, (config) =>
      Layer.merge(
        ServiceManagerFor(process.platform, config.paths.profile, config.paths.stateDir, env),
        GatewayHolderFile(config.paths.stateDir)
      )
    )
  )
