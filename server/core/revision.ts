/** The revision types every part shares: revdb makes them; configs, sessions and builds record them. */

/** One indexed revision (DESIGN.md; the API returns it as is, without `project`). */
export interface Revision {
  project: string;
  sha: string;
  describe: string;
  /** committer date, ISO 8601 */
  date: string;
  /** "tag:v0.2.0", "branch:master" */
  refs: string[];
  kconfigHash: string;
  /** how many other revisions of the project have the same kconfig tree */
  sameKconfigCount: number;
}

/**
 * What a config, session or build records of the revision it was made for: the name
 * the user gave (tag, branch, sha...), the commit it resolved to and its describe string.
 */
export interface RevisionPin {
  project: string;
  rev: string;
  commit: string;
  describe: string;
}
