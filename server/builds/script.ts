import { apiPath } from "../../contracts/urls";
import { configRunsCode, runsCodeWarning } from "../configs/runs-code";
import type { BuildStep, Recipe } from "../core/recipe";
import type { BuildIdentity } from "./identity";
import { checkoutScript } from "./worktree";
import { GUEST_IN, GUEST_OUT } from "../core/guest-paths";

/**
 * The shell scripts of a build, generated from the recipe: `build.sh` runs inside the
 * sandbox; `reproduce.sh` (stored beside the artifacts) runs the same recipe commands
 * on the same commit and config anywhere with git, make and the toolchain.
 */

/** POSIX single-quoting. */
export const shq = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** A recipe argv as a shell command; `{jobs}` becomes ${JOBS} (inside double quotes). */
const dq = (s: string) => s.replace(/[\\"$`]/g, (c) => `\\${c}`);
const command = (argv: string[]) =>
  argv.map((a) => (a.includes("{jobs}") ? `"${a.split("{jobs}").map(dq).join("${JOBS}")}"` : shq(a))).join(" ");

/** Recipe globs are shipped data; refuse anything beyond plain path characters and `*`. */
const globWord = (g: string) => {
  if (!/^[A-Za-z0-9_./*-]+$/.test(g)) throw new Error(`artifact glob '${g}' has characters kbs does not expand`);
  return g;
};

/** Steps as shell, each announced by `step NAME TEXT` (defined by the script). */
const stepLines = (steps: BuildStep[]): string =>
  steps.map((s) => `step ${shq(s.name)} "${dq(s.argv.join(" ")).replaceAll("{jobs}", "${JOBS}")}"\n${command(s.argv)} || exit $?`).join("\n");
const olddefconfig = (recipe: Recipe): BuildStep[] => [{ name: "olddefconfig", argv: recipe.build.olddefconfig }];

function configHeredoc(configFile: string, text: string): string {
  let tag = "KBS_CONFIG_EOF";
  while (text.includes(tag)) tag += "_";
  return `cat > ${shq(configFile)} <<'${tag}'\n${text.endsWith("\n") ? text : text + "\n"}${tag}`;
}

export interface BuildScriptInput {
  recipe: Recipe;
  /** The project's external trees (externals.ts): unpacked and named to make before olddefconfig. */
  externals?: string;
  image: string;
  jobs: number;
  commit: string;
  describe: string;
  identity: BuildIdentity;
}

/**
 * The pinned identity as shell (build.sh and reproduce.sh alike): umask, the environment,
 * and the source path, a link to the work tree `$1` that the steps run in; `cd` keeps the
 * link's name in $PWD, which is where gcc takes the compile dir of its debug info from.
 */
function identityLines(id: BuildIdentity, tree: string): string {
  return [
    `umask ${id.umask}`,
    ...Object.entries(id.env).map(([k, v]) => `export ${k}=${shq(v)}`),
    `ln -sfn ${tree} ${shq(id.sourcePath)} || fail ${shq(`could not make the source path ${id.sourcePath}`)}`,
    `cd ${shq(id.sourcePath)} || exit 1`,
    "export PWD",
  ].join("\n");
}

/** Runs in the sandbox: /kbs/in/config and packed-refs, gitref's objects read-only; artifacts, step and toolchain.txt go to /kbs/out. */
export function buildScript(b: BuildScriptInput): string {
  const { recipe } = b;
  // The recipe's toolchain rules (data): which compiler each choice symbol needs.
  const set = (symbol: string) => `grep -qx ${shq(`${recipe.symbolPrefix}${symbol}=y`)} ${shq(recipe.configFile)}`;
  const checks = recipe.build.toolchains
    .map((r) =>
      r.packaged
        ? `if ${set(r.symbol)}; then need ${r.compiler} ${shq(r.what)}; fi`
        : `if ${set(r.symbol)}; then fail ${shq(`this config builds for ${r.what}, which needs ${r.compiler}; Debian does not package ${r.compiler}, so kbs cannot build it`)}; fi`,
    )
    .join("\n");
  const collect = (globs: string[], dir: string) =>
    globs.length
      ? `mkdir -p ${dir}\nfor f in ${globs.map(globWord).join(" ")}; do [ -f "$f" ] && cp "$f" ${dir}/"$(basename "$f")" && printf '%s\\t%s\\n' "$(basename "$f")" "$f" >> "$OUT/paths"; done`
      : "";
  return `#!/bin/bash
# kbs build of ${b.describe} (${b.commit}), recipe ${recipe.id} v${recipe.version}; generated, runs inside the sandbox.
set -uo pipefail
shopt -s nullglob globstar
JOBS=${b.jobs}
OUT=${GUEST_OUT}
T0=\${EPOCHREALTIME/./}
step() { local us=$(( \${EPOCHREALTIME/./} - T0 )); printf '%s\\n' "$1" > "$OUT/step"; printf '\\n==> [kbs] %s: %s (at %d.%d s)\\n' "$1" "$2" $((us / 1000000)) $((us / 100000 % 10)); }
fail() { printf 'kbs: %s\\n' "$1" >&2; exit 3; }
TOOLS="make"
need() { command -v "$1" >/dev/null 2>&1 || fail "this config builds for $2, which needs $1; $1 is not installed in the build image '${b.image}'"; TOOLS="$TOOLS $1"; }

step checkout ${shq(`commit ${b.commit} (${b.describe}): a git work tree with the project's refs`)}
exec </dev/null
${checkoutScript(b.commit, b.identity.gitAbbrev)}
${identityLines(b.identity, "/work/src")}
${b.externals ?? ""}
cp ${GUEST_IN}/config ${shq(recipe.configFile)} || exit 1
${stepLines(olddefconfig(recipe))}

step toolchain "the compilers this config needs"
${checks}
[ "$TOOLS" = make ] && command -v gcc >/dev/null 2>&1 && TOOLS="make gcc"
# Versions probed once per image (/kbs/in/toolchains.txt); a tool missing there is asked here.
for t in $TOOLS ccache; do grep -m1 -P "^\\Q$t\\E\\t" ${GUEST_IN}/toolchains.txt 2>/dev/null || { command -v "$t" >/dev/null 2>&1 && printf '%s\\t%s\\n' "$t" "$("$t" --version 2>&1 | head -n1)"; }; done > "$OUT/toolchain.txt"
cat "$OUT/toolchain.txt"
${stepLines(recipe.build.steps)}

step artifacts "collecting outputs"
${collect(recipe.build.artifacts, '"$OUT/artifacts"')}
${collect(recipe.build.optionalArtifacts, '"$OUT/optional"')}
step done "all steps finished"
# The compiler cache's new objects, as one file for kbs to merge after the build (ccache.ts); a cache not handed back is no failure.
if [ -n "\${KBS_CCACHE_TAR:-}" ] && [ -d "\${CCACHE_DIR:-}" ]; then tar --format=ustar -cf "$KBS_CCACHE_TAR" -C "$CCACHE_DIR" . 2>/dev/null || rm -f "$KBS_CCACHE_TAR"; fi
`;
}

export interface ReproducerInput extends BuildScriptInput {
  buildId: string;
  project: string;
  configId: string;
  configText: string;
  artifacts: Array<{ name: string; sha256: string; path: string }>;
  /** Earlier builds' artifacts the build took, fetched from the kbs server into $KBS_IN. */
  inputs: Array<{ buildId: string; artifact: string; path: string; sha256: string }>;
}

/** Fetch each input from the kbs server ($KBS_URL) to $KBS_IN/<path> and check its sha256, as the build had it at /kbs/in. */
function fetchInputs(inputs: ReproducerInput["inputs"]): string {
  if (!inputs.length) return "";
  const lines = inputs.map((i) => {
    const dest = `"$KBS_IN"/${shq(i.path)}`;
    return [
      `mkdir -p "$(dirname ${dest})"`,
      `curl -fsSL "$KBS_URL"${shq(apiPath.artifact(i.buildId, i.artifact))} -o ${dest}`,
      `printf '%s  %s\\n' ${i.sha256} ${dest} | sha256sum -c -`,
    ].join("\n");
  });
  return `
: "\${KBS_URL:?set KBS_URL to the kbs server the build came from, e.g. KBS_URL=http://kbs.example:3000}"
KBS_IN=\${KBS_IN:-$work/.kbs-in}
export KBS_IN
step inputs "artifacts of earlier kbs builds from $KBS_URL into $KBS_IN"
${lines.join("\n")}`;
}

/** A shell script that rebuilds the same thing with the same commands from the same commit and config. */
export function reproducer(r: ReproducerInput): string {
  const checks = r.artifacts.map((a) => `${a.sha256}  ${a.path}`).join("\n");
  const runsCode = configRunsCode(r.configText);
  const warning = runsCode.length
    ? `# WARNING: ${runsCodeWarning(runsCode)}\n# make runs them on this machine, outside any sandbox.\necho ${shq(`reproduce.sh: WARNING: ${runsCodeWarning(runsCode)}`)} >&2\n`
    : "";
  const id = r.identity;
  const pinned = [...Object.entries(id.env).map(([k, v]) => `${k}=${v}`), `host name ${id.hostname}`, `umask ${id.umask}`, `source path ${id.sourcePath}`, `git core.abbrev ${id.gitAbbrev}`];
  return `#!/bin/sh
# Reproduces kbs build ${r.buildId}: ${r.project} ${r.describe} (commit ${r.commit}),
# config ${r.configId}, recipe ${r.recipe.id} v${r.recipe.version}, build image '${r.image}'.
# Needs git, make and the toolchain listed in manifest.json${r.inputs.length ? ", and curl for its inputs" : ""}.
# Usage: ${r.inputs.length ? "KBS_URL=<kbs server> " : ""}sh reproduce.sh <git clone or URL of ${r.project}> [work dir]
# It pins the build identity kbs pinned (manifest.json "pinned"):
${pinned.map((p) => `#   ${p}`).join("\n")}
${warning}set -eu
repo=\${1:?usage: sh reproduce.sh GIT_REPOSITORY [WORK_DIR]}
fail() { printf 'reproduce.sh: %s\\n' "$1" >&2; exit 3; }
# The host name is the uts namespace's: re-run in one of our own (as root, or as a user where
# user namespaces are allowed) with the pinned name.
if [ "$(uname -n)" != ${shq(id.hostname)} ] && [ -z "\${KBS_REPRO_UTS:-}" ]; then
  for ns in "unshare --uts" "unshare --user --map-root-user --uts"; do
    if $ns true 2>/dev/null; then exec env KBS_REPRO_UTS=1 $ns sh -c 'hostname "$0" && exec sh "$@"' ${shq(id.hostname)} "$0" "$@"; fi
  done
  echo "reproduce.sh: cannot pin the host name here (no unshare --uts); outputs that embed it will differ" >&2
fi
work=\${2:-$(mktemp -d)}
JOBS=\${JOBS:-$(nproc)}
step() { printf '\\n==> %s: %s\\n' "$1" "$2"; }
git clone -q --no-checkout "$repo" "$work"
cd "$work"
git checkout -q --detach ${r.commit}
git config core.abbrev ${id.gitAbbrev}
work=$(pwd -P)
[ ! -e ${shq(id.sourcePath)} ] || [ -L ${shq(id.sourcePath)} ] || fail ${shq(`${id.sourcePath} exists and is not a link; remove it (kbs builds run there)`)}
${identityLines(id, '"$work"')}
step pinned "the build identity"
printf '  %s\\n' ${pinned.map((p) => shq(p)).join(" ")} "host name now: $(uname -n)" "source path -> $work"${fetchInputs(r.inputs)}
${configHeredoc(r.recipe.configFile, r.configText)}
${stepLines([...olddefconfig(r.recipe), ...r.recipe.build.steps])}

step verify "the outputs against the build's manifest"
${checks ? `sha256sum -c <<'KBS_SUMS_EOF'\n${checks}\nKBS_SUMS_EOF` : "echo 'no artifacts to compare'"}
`;
}
