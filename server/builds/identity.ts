import type { Recipe } from "../core/recipe";

/**
 * The pinned build identity: everything outside the source and the config that a build
 * may write into its output, fixed to the same value for every build of a commit, inside
 * kbs's sandbox and in `reproduce.sh` on anyone's machine. The reference is TuxMake's
 * reproducible kernel builds (KBUILD_BUILD_TIMESTAMP/USER/HOST pinned, the timestamp
 * taken from the commit) and reproducible-builds.org's SOURCE_DATE_EPOCH.
 *
 * Pinned for every recipe: SOURCE_DATE_EPOCH (the commit's committer time), TZ=UTC, the
 * C.UTF-8 locale, umask 022, the host name (the sandbox's uts namespace), the user name,
 * and the source path the compilers see (`$PWD`, a link to the work tree: gcc takes
 * DW_AT_comp_dir from $PWD when it names the current directory), and git's abbreviation length
 * (`git describe` output, Klipper's version string). A recipe adds its own
 * pins in `build.identity` (Linux: KBUILD_BUILD_*), with `{epoch}`, `{date}`, `{user}`,
 * `{host}` and `{project}` filled in here.
 */
export interface BuildIdentity {
  /** The environment every step runs with (and reproduce.sh exports). */
  env: Record<string, string>;
  hostname: string;
  user: string;
  umask: string;
  /** The path the build's steps run in: a link to the work tree. */
  sourcePath: string;
  /** core.abbrev of the work tree: what a fresh clone of the upstream picks (worktree.ts), so `git describe` prints the same. */
  gitAbbrev: number;
}

export const IDENTITY_HOST = "kbs";
export const IDENTITY_USER = "kbs";

/** The commit time as `date -R` prints it in UTC (Linux's KBUILD_BUILD_TIMESTAMP form). */
export function rfc2822(epoch: number): string {
  const d = new Date(epoch * 1000);
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function buildIdentity(recipe: Recipe, project: string, tree: { commitEpoch: number; abbrev: number }): BuildIdentity {
  const commitEpoch = tree.commitEpoch;
  const fill = (v: string) =>
    v
      .replaceAll("{epoch}", String(commitEpoch))
      .replaceAll("{date}", rfc2822(commitEpoch))
      .replaceAll("{user}", IDENTITY_USER)
      .replaceAll("{host}", IDENTITY_HOST)
      .replaceAll("{project}", project);
  const sourcePath = `/tmp/kbs-src-${project}`;
  return {
    env: {
      SOURCE_DATE_EPOCH: String(commitEpoch),
      TZ: "UTC",
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      USER: IDENTITY_USER,
      LOGNAME: IDENTITY_USER,
      ...Object.fromEntries(Object.entries(recipe.build.identity).map(([k, v]) => [k, fill(v)])),
    },
    hostname: IDENTITY_HOST,
    user: IDENTITY_USER,
    umask: "022",
    sourcePath,
    gitAbbrev: tree.abbrev,
  };
}

/** What the manifest lists as pinned (TuxMake's metadata lists its environment the same way). */
export function pinnedForManifest(id: BuildIdentity): Record<string, string> {
  return { ...id.env, hostname: id.hostname, user: id.user, umask: id.umask, sourcePath: id.sourcePath, gitAbbrev: String(id.gitAbbrev) };
}
