#!/usr/bin/env node
import { setFlagsFromString } from "node:v8"

// A long-running Gateway whose requests allocate little: V8's young generation stays at its initial
// size. Set before any module is loaded, since start-up allocation is what would grow it (and the
// grown size stays committed: 8 MB of idle RSS). The global --profile/--dev flags may come first.
const args = process.argv.slice(2)
let i = 0
while (i < args.length && (args[i] === "--dev" || args[i].startsWith("--profile"))) i += args[i] === "--profile" ? 2 : 1
if (args[i] === "gateway" && args[i + 1] === "run") setFlagsFromString("--semi-space-growth-factor=1")
await import("../dist/bin.js")
