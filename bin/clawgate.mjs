#!/usr/bin/env node
import { createRequire } from "node:module"
import { setFlagsFromString } from "node:v8"

// The global --profile/--dev flags may come before the command.
const args = process.argv.slice(2)
let i = 0
while (i < args.length && (args[i] === "--dev" || args[i].startsWith("--profile"))) i += args[i] === "--profile" ? 2 : 1
const gatewayRun = args[i] === "gateway" && args[i + 1] === "run"

// A long-running Gateway whose requests allocate little: V8's young generation stays at its initial
// size. Set before any module is loaded, since start-up allocation is what would grow it (and the
// grown size stays committed: 8 MB of idle RSS).
if (gatewayRun) setFlagsFromString("--semi-space-growth-factor=1")

const require = createRequire(import.meta.url)
require("./compile-cache.cjs").install(new URL("../dist", import.meta.url).pathname, gatewayRun ? "gateway" : "cli")
require("../dist/bin.cjs")
