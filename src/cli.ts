/**
 * The command tree: each command's module (src/cli/) parses its flags,
 * picks the layers (the config file, a WebSocket client for the resolved
 * target, or the whole Gateway) and runs a program from src/programs.
 * Failures become one clear message and an exit code (programs/errors.ts).
 */
import { Command } from "@effect/cli"
import { healthCommand, statusCommand, tunnelCommand, securityCommand } from "./cli/gateway.js"
import { gatewayCommand, configCommand, channelsCommand } from "./cli/config.js"
import { nodesCommand, devicesCommand } from "./cli/nodes.js"
import { sessionsCommand, nodeCommand } from "./cli/sessions.js"
import { dashboardCommand } from "./cli/dashboard.js"
import { doctorCommand } from "./cli/doctor.js"
import { logsCommand } from "./cli/logs.js"
import { VERSION } from "./version.js"

export const rootCommand = Command.make("clawgate").pipe(
  Command.withDescription("clawgate: a self-hosted AI-agent Gateway, wire-compatible with OpenClaw"),
  Command.withSubcommands([
    gatewayCommand,
    healthCommand("health"),
    statusCommand,
    configCommand,
    nodesCommand,
    devicesCommand,
    sessionsCommand,
    channelsCommand,
    nodeCommand,
    tunnelCommand,
    dashboardCommand,
    logsCommand,
    securityCommand,
    doctorCommand
  ])
)

export const cli = Command.run(rootCommand, { name: "clawgate", version: VERSION })
