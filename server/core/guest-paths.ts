/**
 * Where a sandbox sees what kbs hands it: the same paths on every backend (bwrap, docker,
 * qemu), so build scripts, recipes and the tree's tools can name them.
 */
/** The files kbs hands a job (the config, build.sh, inputs), read-only. */
export const GUEST_IN = "/kbs/in";
/** What a job leaves for kbs: collected as one tar (one-shot jobs) or read untrusted (sessions). */
export const GUEST_OUT = "/kbs/out";
/** kbs's own helper scripts (the warm stub), read-only. */
export const GUEST_STUB = "/kbs/stub";
/**
 * gitref's objects, read-only, borrowed by a build's git work tree (alternates). A direct
 * child of /kbs: bwrap makes missing parents of a bind 0700, which the sandbox uid could not enter.
 */
export const GUEST_OBJECTS = "/kbs/objects";
/** The download cache a fetch stage checks and a build reads (Buildroot's dl/), read-only. */
export const GUEST_DL = "/kbs/dl";
/** The commit's ready work tree (builds/tree-cache.ts: a tar of the checkout and its index), read-only. */
export const GUEST_TREE = "/kbs/tree";
