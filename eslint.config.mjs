import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

const root = dirname(fileURLToPath(import.meta.url));

/** Node's built-in modules, bare or with the node: prefix: contracts/ runs in the browser too. */
const nodeBuiltins = ["node:*", ...["fs", "path", "os", "child_process", "crypto", "http", "net", "stream", "url", "util", "events", "zlib", "worker_threads"].flatMap((m) => [m, `${m}/*`])];
const outside = (why, ...group) => ({ group, message: why });

/**
 * The layers (docs/architecture.md), held here so a wrong arrow fails `npm test`:
 * contracts/ and server/core/ import nothing of ours above them; the browser (app/,
 * components/) speaks to the server only through contracts/; no domain part imports
 * the HTTP adapter; the product never imports its benchmarks or test support.
 */
const layers = [
  {
    files: ["contracts/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: nodeBuiltins.filter((m) => !m.includes("*")), patterns: [outside("contracts/ is shared by server and browser: it imports only zod and itself", "node:*", "../*", "@/*")] }],
    },
  },
  {
    files: ["server/core/**/*.ts"],
    ignores: ["server/core/**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [outside("server/core/ is the leaf layer: it imports only node, libraries and itself", "../*", "@/*")] }],
    },
  },
  {
    files: ["app/**/*.{ts,tsx}", "components/**/*.{ts,tsx}"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            outside("the browser side reaches the server only through contracts/ (API views, protocol, URLs)", "**/server/**", "@/server/**", "**/test/**", "@/test/**", "**/bench/**", "@/bench/**"),
            // A zod schema built in the page probes `new Function`, which the page CSP refuses (e2e/csp.spec.ts).
            { group: ["**/contracts/api", "**/contracts/symbols", "**/contracts/terminal-protocol"], allowTypeImports: true, message: "pages take the zod contracts as types only: zod in the browser breaks the page CSP" },
          ],
        },
      ],
    },
  },
  {
    files: ["server/**/*.ts"],
    ignores: ["server/http/**", "server/cli/**", "server/cli.ts", "server/main.ts", "server/kbs.ts", "server/**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [outside("the domain never imports the HTTP adapter: throw a KbsError (server/core/errors.ts); server/http maps it", "**/http/*", "**/http"), outside("the product never imports benchmarks or test support", "**/bench/**", "**/test/**")] }],
    },
  },
  {
    files: ["server/http/**/*.ts", "server/cli/**/*.ts", "server/cli.ts", "server/main.ts", "server/kbs.ts"],
    ignores: ["server/**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [outside("the product never imports benchmarks or test support", "**/bench/**", "**/test/**")] }],
    },
  },
];

const config = [
  ...nextVitals,
  ...nextTs,
  {
    ignores: ["node_modules/**", ".next/**", "data/**", "test-results/**", "playwright-report/**", "bench-out/**", "next-env.d.ts", "server/projects/builtin/**"],
  },
  {
    settings: { next: { rootDir: root } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  ...layers,
];

export default config;
