/**
 * A real OpenSSH server on loopback for tunnel tests: its own host key,
 * client key and authorized_keys in a temp dir, and an ssh config file that
 * points the client at them (so the user's ~/.ssh is never touched).
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { tempDir } from "./gateway.js"

export const SSHD = "/usr/sbin/sshd"
export const sshdAvailable = fs.existsSync(SSHD) && fs.existsSync("/usr/bin/ssh")

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })

export interface Sshd {
  readonly port: number
  /** `user@127.0.0.1:port` */
  readonly target: string
  /** For `ssh -F`: identity, known_hosts and host-key policy for this server. */
  readonly sshConfig: string
}

export const startSshd = Effect.gen(function* () {
  const dir = yield* tempDir("clawgate-sshd-")
  const port = yield* Effect.promise(freePort)
  const keygen = (file: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file])
  keygen(path.join(dir, "host_key"))
  keygen(path.join(dir, "client_key"))
  fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"))
  fs.mkdirSync("/run/sshd", { recursive: true })
  fs.writeFileSync(
    path.join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host_key`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      `PidFile ${dir}/sshd.pid`,
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "PubkeyAuthentication yes",
      "AllowTcpForwarding yes",
      "PermitRootLogin prohibit-password",
      "LogLevel ERROR"
    ].join("\n") + "\n"
  )
  const sshConfig = path.join(dir, "ssh_config")
  fs.writeFileSync(
    sshConfig,
    [
      "Host *",
      `  IdentityFile ${dir}/client_key`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${dir}/known_hosts`,
      "  StrictHostKeyChecking accept-new",
      "  LogLevel ERROR"
    ].join("\n") + "\n"
  )
  yield* Effect.acquireRelease(
    Effect.async<ReturnType<typeof spawn>, Error>((resume) => {
      const child = spawn(SSHD, ["-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] })
      let err = ""
      child.stderr!.on("data", (d) => (err += d))
      child.once("exit", (code) => resume(Effect.fail(new Error(`sshd exited (${code}): ${err}`))))
      const poll = () => {
        const s = net.connect(port, "127.0.0.1")
        s.once("connect", () => (s.destroy(), resume(Effect.succeed(child))))
        s.once("error", () => setTimeout(poll, 50))
      }
      poll()
    }),
    (child) => Effect.sync(() => void child.kill("SIGTERM"))
  )
  return { port, target: `${os.userInfo().username}@127.0.0.1:${port}`, sshConfig } satisfies Sshd
})
