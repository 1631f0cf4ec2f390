import * as fs from "node:fs/promises"
import * as path from "node:path"
import { randomBytes } from "node:crypto"

/**
 * Writes `data` to `file` so that readers see either the old or the new file,
 * never half of one: write a sibling temp file with the final mode, fsync it,
 * rename it over the target, then fsync the directory. Used for every file
 * that holds a secret, so the mode is 0600 from the first byte.
 */
export const atomicWriteFile = async (file: string, data: string, mode = 0o600): Promise<void> => {
  const dir = path.dirname(file)
  await fs.mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`)
  const handle = await fs.open(tmp, "wx", mode)
  try {
    await handle.writeFile(data, "utf8")
    await handle.sync()
  } catch (e) {
    await handle.close().catch(() => {})
    await fs.rm(tmp, { force: true })
    throw e
  }
  await handle.close()
  try {
    await fs.chmod(tmp, mode)
    await fs.rename(tmp, file)
  } catch (e) {
    await fs.rm(tmp, { force: true })
    throw e
  }
  const dirHandle = await fs.open(dir, "r").catch(() => undefined)
  if (dirHandle) {
    await dirHandle.sync().catch(() => {})
    await dirHandle.close()
  }
}
