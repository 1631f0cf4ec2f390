#!/usr/bin/env node
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { ValidationError } from "@effect/cli"
import { Effect, Layer } from "effect"
import { checkProfileName, PROFILE_ENV, parseProfileArgs } from "./config/profile.js"
import { cli } from "./cli.js"

const Platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

// `--profile NAME` / `--dev` are global: taken out before the command line is parsed, and handed to
// every layer (config, state dir, port) through CLAWGATE_PROFILE, as a service unit sets it.
const profileArgs = parseProfileArgs(process.argv)
const fromEnv = process.env[PROFILE_ENV]
const envCheck = fromEnv ? checkProfileName(fromEnv) : undefined
if (profileArgs.error !== undefined || (profileArgs.profile === undefined && envCheck && "error" in envCheck)) {
  const why = profileArgs.error ?? (envCheck && "error" in envCheck ? `${PROFILE_ENV}: ${envCheck.error}` : "")
  process.stderr.write(`error: ${why}\n`)
  process.exit(2)
}
if (profileArgs.profile !== undefined) {
  if (profileArgs.profile.name === undefined) delete process.env[PROFILE_ENV]
  else process.env[PROFILE_ENV] = profileArgs.profile.name
}

cli(profileArgs.argv as Array<string>).pipe(
  // @effect/cli has already printed what was wrong with the command line.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => void (process.exitCode = 2))),
  Effect.provide(Platform),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
