/**
 * The house rules for imports (checked by `npm run lint`, part of `npm test`):
 * data flows one way, cli → programs → services ← layers, with src/protocol
 * (the wire, shared with the browser) depending on nothing of the Gateway's,
 * and no cycles anywhere.
 */
module.exports = {
  forbidden: [
    { name: "no-cycles", severity: "error", comment: "an import cycle", from: {}, to: { circular: true } },
    {
      name: "protocol-is-shared",
      severity: "error",
      comment: "src/protocol is the wire, shared by the Gateway, its clients and the browser: it imports only itself and effect",
      from: { path: "^src/protocol/" },
      to: { path: "^src/(services|layers|programs|config|security|node|util|cli|bin)" }
    },
    {
      name: "ui-is-a-browser",
      severity: "error",
      comment: "src/ui is the Control UI's browser code: it imports src/protocol for the wire and nothing of the Gateway's",
      from: { path: "^src/ui/" },
      to: { path: "^src/(services|layers|programs|config|security|node|util|cli|bin|client|agent|store)" }
    },
    {
      name: "services-are-tags",
      severity: "error",
      comment: "src/services holds tags, interfaces and typed errors: it never imports an implementation (layers), a program or the CLI",
      from: { path: "^src/services/" },
      to: { path: "^src/(layers|programs|cli|bin)" }
    },
    {
      name: "programs-use-tags",
      severity: "error",
      comment: "a program is written against service tags; the CLI picks the layers",
      from: { path: "^src/programs/" },
      to: { path: "^src/(layers|cli|bin)" }
    },
    {
      name: "layers-below-programs",
      severity: "error",
      comment: "a layer implements a service; it never reaches up into programs or the CLI",
      from: { path: "^src/layers/" },
      to: { path: "^src/(programs|cli|bin)" }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs"] }
  }
}
