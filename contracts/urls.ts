/**
 * The one place page, API and WebSocket paths are spelled (DESIGN.md "HTTP API"), for
 * the pages, the server's views and links, the CLI, tests and benchmarks. Every segment
 * is URL-encoded; the server's route table (server/http/routes) matches these.
 */

const enc = encodeURIComponent;
type QueryValue = string | number | undefined;

/** `?a=1&b=2` of the params that are set (undefined and "" are left out), or "". */
function query(params: Record<string, QueryValue> = {}): string {
  const set = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== "");
  const q = new URLSearchParams(set.map(([k, v]) => [k, String(v)])).toString();
  return q ? `?${q}` : "";
}

/** A path inside a tree ("src/Kconfig"), each segment encoded. */
const treePath = (file: string) => file.split("/").map(enc).join("/");

/** The portal's pages. */
export const pagePath = {
  /** A menuconfig session; project and rev let the page show where it is before the API answers, `from` is the preset config it began from. */
  session: (id: string, q: { project?: string; rev?: string; from?: string; arch?: string } = {}) => `/s/${enc(id)}${query(q)}`,
  /** A shared config; `against` shows the diff from another config. */
  config: (id: string, q: { against?: string } = {}) => `/c/${enc(id)}${query(q)}`,
  build: (id: string) => `/b/${enc(id)}`,
  printer: (id: string) => `/p/${enc(id)}`,
  /** A symbol; with a config id its value there and why. */
  symbol: (project: string, rev: string, name: string, q: { config?: string; arch?: string } = {}) => `/x/${enc(project)}/${enc(rev)}/${enc(name)}${query(q)}`,
  /** The tree file view, at a line. */
  file: (project: string, rev: string, file: string, line?: number) => `/f/${enc(project)}/${enc(rev)}/${treePath(file)}${line ? `#L${line}` : ""}`,
};

const project = (id: string) => `/api/projects/${enc(id)}`;
const revision = (id: string, rev: string) => `${project(id)}/revisions/${enc(rev)}`;
const config = (id: string) => `/api/configs/${enc(id)}`;
const build = (id: string) => `/api/builds/${enc(id)}`;
const session = (id: string) => `/api/sessions/${enc(id)}`;
const printer = (id: string) => `/api/printers/${enc(id)}`;
const workerJob = (id: string) => `/api/worker/jobs/${enc(id)}`;

/** The JSON API. */
export const apiPath = {
  projects: () => "/api/projects",
  project,
  revisions: (id: string, q: { q?: string; limit?: number } = {}) => `${project(id)}/revisions${query(q)}`,
  revision,
  sync: (id: string) => `${project(id)}/sync`,
  presets: (id: string, rev: string, q: { q?: string; limit?: number } = {}) => `${revision(id, rev)}/presets${query(q)}`,
  symbols: (id: string, rev: string, q: { q?: string; limit?: number; arch?: string } = {}) => `${revision(id, rev)}/symbols${query(q)}`,
  /** One symbol; with a config id its value there and why; `arch` for trees with an ARCH choice (Linux). */
  symbol: (id: string, rev: string, name: string, q: { config?: string; arch?: string } = {}) => `${revision(id, rev)}/symbols/${enc(name)}${query(q)}`,
  symbolHistory: (id: string, name: string, q: { arch?: string } = {}) => `${project(id)}/symbols/${enc(name)}/history${query(q)}`,
  treeFile: (id: string, rev: string, file: string) => `${revision(id, rev)}/files/${treePath(file)}`,

  sessions: () => "/api/sessions",
  session,
  sessionLeave: (id: string) => `${session(id)}/leave`,

  configs: () => "/api/configs",
  config,
  configRaw: (id: string, q: { form?: "written" | "canonical" } = {}) => `${config(id)}/raw${query(q)}`,
  configDefconfig: (id: string) => `${config(id)}/defconfig`,
  configDiff: (a: string, b: string) => `${config(a)}/diff/${enc(b)}`,
  configSymbols: (id: string, q: { arch?: string } = {}) => `${config(id)}/symbols${query(q)}`,
  configPreset: (id: string) => `${config(id)}/preset`,
  configLatest: (id: string) => `${config(id)}/latest`,
  configUpgrade: (id: string) => `${config(id)}/upgrade`,
  defconfigDiff: (id: string, q: { against: string; arch?: string }) => `${config(id)}/defconfig-diff${query(q)}`,
  defconfigPatch: (id: string, q: { name: string; arch?: string }) => `${config(id)}/defconfig-patch${query(q)}`,
  kernelArches: (q: { project: string; rev: string }) => `/api/kernel/arches${query(q)}`,
  kernelStart: () => "/api/kernel/start",
  presetConfigs: () => "/api/presets",

  builds: (q: { config?: string } = {}) => `/api/builds${query(q)}`,
  build,
  buildLog: (id: string, q: { follow?: "0" | "1" } = {}) => `${build(id)}/log${query(q)}`,
  buildPin: (id: string) => `${build(id)}/pin`,
  buildVerify: (id: string) => `${build(id)}/verify`,
  buildVerifyLog: (id: string) => `${build(id)}/verify/log`,
  buildFlash: (id: string) => `${build(id)}/flash`,
  /** `as`: saved under the name the board expects. */
  artifact: (id: string, name: string, q: { as?: string } = {}) => `${build(id)}/artifacts/${enc(name)}${query(q)}`,

  printer,
  printerBuild: (id: string) => `${printer(id)}/build`,
  printerUpgrade: (id: string) => `${printer(id)}/upgrade`,

  workers: () => "/api/workers",
  workerHello: () => "/api/worker/hello",
  workerClaim: (id: string) => `${workerJob(id)}/claim`,
  workerRefuse: (id: string, attempt: number) => `${workerJob(id)}/refuse${query({ attempt })}`,
  workerLog: (id: string, attempt: number) => `${workerJob(id)}/log${query({ attempt })}`,
  workerInput: (id: string, symbol: string, attempt: number) => `${workerJob(id)}/inputs/${enc(symbol)}${query({ attempt })}`,
  workerArtifact: (id: string, sha256: string, q: { attempt: number; size: number; name: string }) => `${workerJob(id)}/artifacts/${enc(sha256)}${query(q)}`,
  workerFinish: (id: string, attempt: number) => `${workerJob(id)}/finish${query({ attempt })}`,
};

/** WebSocket paths (upgrades on the same origin). */
export const socketPath = {
  /** The terminal protocol of one session (./terminal-protocol.ts). */
  session: (id: string) => `/ws/sessions/${enc(id)}`,
};

/** ws(s):// URL for a server path, on an http(s):// origin or a page's location. */
export function socketUrl(path: string, origin: string | { protocol: string; host: string }): string {
  if (typeof origin === "string") return origin.replace(/^http/, "ws") + path;
  return `${origin.protocol === "https:" ? "wss" : "ws"}://${origin.host}${path}`;
}
