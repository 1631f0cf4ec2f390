/**
 * A code cache for clawgate's own bundle (dist/*.cjs). Node 20 parses and compiles every module
 * on every start, and for a one-shot command that is most of the time it takes; V8 can save the
 * compiled code of a script and take it back next time, which Node 20 offers for CommonJS through
 * `vm.Script` (`cachedData`), not for ES modules. So the build emits CommonJS chunks and this hook
 * compiles each with its cache, saved after the command has run (so the functions it used are in it).
 *
 * The cache lives in `$XDG_CACHE_HOME/clawgate` (else `~/.cache/clawgate`), a directory of this user's
 * own (0700; refused when it is a symbolic link or someone else's), one file per chunk named by the
 * SHA-256 of the chunk's text; V8 itself refuses data made by another V8 version or with other flags,
 * and then the chunk is compiled as usual and its cache written again. `CLAWGATE_COMPILE_CACHE=0`
 * turns it off; `CLAWGATE_COMPILE_CACHE=/some/dir` puts it elsewhere.
 */
"use strict"
const crypto = require("node:crypto")
const fs = require("node:fs")
const Module = require("node:module")
const os = require("node:os")
const path = require("node:path")
const vm = require("node:vm")

const MAX_CACHE_BYTES = 32 * 1024 * 1024
const DAY_MS = 24 * 60 * 60 * 1000
/** Cache files no command has used for this long (an older build's chunks) are removed when new ones are written. */
const UNUSED_MS = 14 * DAY_MS

const ownDir = (dir) => {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const st = fs.lstatSync(dir)
    if (!st.isDirectory() || (typeof process.getuid === "function" && st.uid !== process.getuid())) return false
    if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700)
    return true
  } catch {
    return false
  }
}

const cacheDirFor = (flavor) => {
  const setting = process.env.CLAWGATE_COMPILE_CACHE
  if (setting === "0" || setting === "off" || setting === "false") return undefined
  const base = setting && setting !== "1" ? path.resolve(setting) : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "clawgate")
  const dir = path.join(base, `v8-${process.versions.v8}-${process.arch}-${flavor}`)
  return ownDir(base) && ownDir(dir) ? dir : undefined
}

const readCache = (file) => {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
    try {
      const st = fs.fstatSync(fd)
      if (!st.isFile() || st.size === 0 || st.size > MAX_CACHE_BYTES) return undefined
      // Marked as used (at most once a day), so that pruning keeps it.
      if (Date.now() - st.mtimeMs > DAY_MS) fs.futimesSync(fd, new Date(), new Date())
      const buf = Buffer.allocUnsafe(st.size)
      fs.readSync(fd, buf, 0, st.size, 0)
      return buf
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return undefined
  }
}

const writeCache = (file, data) => {
  if (data.length === 0 || data.length > MAX_CACHE_BYTES) return
  const tmp = `${file}.${process.pid}.tmp`
  try {
    fs.writeFileSync(tmp, data, { mode: 0o600, flag: "wx" })
    fs.renameSync(tmp, file)
  } catch {
    try {
      fs.rmSync(tmp, { force: true })
    } catch {}
  }
}

const prune = (dir) => {
  try {
    const now = Date.now()
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name)
      const st = fs.lstatSync(file)
      if (st.isFile() && now - st.mtimeMs > UNUSED_MS) fs.rmSync(file, { force: true })
    }
  } catch {}
}

/**
 * Compiles the .cjs files under `distDir` with the code cache. `flavor` separates caches made under
 * different V8 flags (the Gateway's, bin/gateway-v8.cjs), which V8 would refuse for each other.
 * Returns `save`, which writes the caches of the chunks compiled so far (it also runs on its own,
 * 5 s after start and at exit).
 */
exports.install = (distDir, flavor) => {
  const dir = cacheDirFor(flavor)
  if (dir === undefined) return () => {}
  const root = path.resolve(distDir) + path.sep
  const fresh = []
  const original = Module.prototype._compile
  Module.prototype._compile = function (content, filename) {
    if (!filename.startsWith(root) || !filename.endsWith(".cjs")) return original.call(this, content, filename)
    const source = content.startsWith("#!") ? `//${content}` : content
    const cacheFile = path.join(dir, `${path.basename(filename, ".cjs")}-${crypto.createHash("sha256").update(source).digest("hex").slice(0, 32)}`)
    const cachedData = readCache(cacheFile)
    const script = new vm.Script(Module.wrap(source), { filename, cachedData })
    if (cachedData === undefined || script.cachedDataRejected) fresh.push({ script, cacheFile })
    const fn = script.runInThisContext({ displayErrors: true })
    const mod = this
    const req = (id) => mod.require(id)
    req.resolve = (request, options) => Module._resolveFilename(request, mod, false, options)
    req.cache = Module._cache
    req.main = process.mainModule
    return fn.call(mod.exports, mod.exports, req, mod, filename, path.dirname(filename))
  }
  // After the command has run, the cache holds the functions it compiled along the way, not only the
  // top level; a long-running Gateway writes it once it has started.
  const save = () => {
    const made = fresh.splice(0)
    for (const { script, cacheFile } of made) writeCache(cacheFile, script.createCachedData())
    if (made.length > 0) prune(dir)
  }
  process.once("exit", save)
  setTimeout(save, 5_000).unref()
  return save
}
