#!/usr/bin/env node
import { createRequire } from "node:module"

// The global --profile/--dev flags may come before the command.
const args = process.argv.slice(2)
let i = 0
while (i < args.length && (args[i] === "--dev" || args[i].startsWith("--profile"))) i += args[i] === "--profile" ? 2 : 1
const gatewayRun = args[i] === "gateway" && args[i + 1] === "run"

// A long-running Gateway starts with V8 set to hold little memory once idle (bin/gateway-v8.cjs).
const require = createRequire(import.meta.url)
const gatewayV8 = gatewayRun ? require("./gateway-v8.cjs") : undefined
gatewayV8?.beforeLoad()

const saveCompileCache = require("./compile-cache.cjs").install(new URL("../dist", import.meta.url).pathname, gatewayV8?.cacheFlavor() ?? "cli")
gatewayV8?.afterStart(saveCompileCache)
require("../dist/bin.cjs")
