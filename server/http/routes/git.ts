import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import zlib from "node:zlib";
import { git, gitEnv, gitText } from "../../gitref/git";
import type { GitRef } from "../../gitref/gitref";
import type { ProjectRegistry } from "../../projects/registry";
import { log } from "../../core/log";
import type { WorkerTokens } from "../../workers/tokens";
import { HttpError, notFound } from "../errors";
import type { Router } from "../router";

/**
 * The sources for remote workers: the server's gitref, read-only over git's own smart
 * HTTP protocol at /git/<project> (a worker token needed). Each project is served from a
 * view: a bare repo whose objects are gitref's (objects/info/alternates) and whose refs
 * are that project's alone under their upstream names (refs/heads/<id>/x → refs/heads/x),
 * rewritten from gitref at each ref advertisement. `git upload-pack --stateless-rpc`
 * serves it on protocol v0, which lets a client want only the advertised tips, so other
 * projects' objects in the shared store stay out of reach.
 */
export function registerGitRoutes(router: Router, kbs: { settings: { dataDir: string }; projects: ProjectRegistry; gitref: GitRef; workerTokens: WorkerTokens }): void {
  const tokens = kbs.workerTokens;
  const viewsDir = path.join(kbs.settings.dataDir, "git-views");

  async function view(project: string): Promise<string> {
    kbs.projects.require(project);
    const dir = path.join(viewsDir, `${project}.git`);
    if (!fs.existsSync(path.join(dir, "objects", "info", "alternates"))) {
      fs.mkdirSync(viewsDir, { recursive: true });
      const tmp = `${dir}.${crypto.randomBytes(4).toString("hex")}.tmp`;
      await git(tmp, ["init", "--bare", "-q", "--end-of-options", tmp]);
      fs.writeFileSync(path.join(tmp, "objects", "info", "alternates"), path.resolve(kbs.gitref.dir, "objects") + "\n");
      try {
        fs.renameSync(tmp, dir);
      } catch {
        fs.rmSync(tmp, { recursive: true, force: true }); // another request made it first
      }
    }
    const listed = await gitText(kbs.gitref.dir, ["for-each-ref", "--format=%(objectname) %(refname)", "--", `refs/heads/${project}/`, `refs/tags/${project}/`]);
    let head: string | undefined;
    const refs: string[] = [];
    for (const line of listed.split("\n").filter(Boolean)) {
      const [oid, ref] = line.split(" ") as [string, string];
      const upstream = ref.replace(/^refs\/(heads|tags)\/[^/]+\//, "refs/$1/");
      if (ref === `refs/heads/${project}/REMOTE_HEAD`) head = oid;
      else refs.push(`${oid} ${upstream}`);
    }
    refs.sort((a, b) => (a.split(" ")[1]! < b.split(" ")[1]! ? -1 : 1));
    // Whole files by rename: an advertisement running meanwhile sees the old refs or the new ones.
    const write = (name: string, text: string) => {
      const tmp = path.join(dir, `.${name}.${crypto.randomBytes(4).toString("hex")}`);
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, path.join(dir, name));
    };
    write("packed-refs", refs.map((r) => r + "\n").join(""));
    write("HEAD", head ? `${head}\n` : "ref: refs/heads/master\n");
    return dir;
  }

  function authorize(req: IncomingMessage): void {
    tokens.authenticate(req.headers.authorization);
  }

  function uploadPack(dir: string, args: string[], res: ServerResponse, input?: NodeJS.ReadableStream): Promise<void> {
    const child = spawn("git", ["upload-pack", "--stateless-rpc", ...args, dir], { env: gitEnv(), stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8").slice(0, 4096)));
    child.stdin.on("error", () => {});
    if (input) input.pipe(child.stdin);
    else child.stdin.end();
    res.on("close", () => child.kill("SIGKILL"));
    child.stdout.pipe(res);
    return new Promise((resolve) =>
      child.on("close", (code) => {
        if (code) log.warn({ dir, code, stderr }, "git upload-pack failed");
        resolve();
      }),
    );
  }

  router.get("/git/:project/info/refs", async ({ req, res, params, url }) => {
    authorize(req);
    if (url.searchParams.get("service") !== "git-upload-pack") {
      throw new HttpError(403, "read_only", "Only git-upload-pack (fetch and clone) is served here; the sources are read-only.");
    }
    const dir = await view(params.project!);
    res.writeHead(200, { "Content-Type": "application/x-git-upload-pack-advertisement", "Cache-Control": "no-cache" });
    const first = "# service=git-upload-pack\n";
    res.write(`${(first.length + 4).toString(16).padStart(4, "0")}${first}0000`);
    await uploadPack(dir, ["--advertise-refs"], res);
  });

  router.post("/git/:project/git-upload-pack", async ({ req, res, params }) => {
    authorize(req);
    const dir = path.join(viewsDir, `${params.project}.git`);
    if (!kbs.projects.get(params.project!) || !fs.existsSync(dir)) throw notFound("unknown_project", `No project ${params.project} is served here; fetch its info/refs first.`);
    if (req.headers["content-type"] !== "application/x-git-upload-pack-request") throw new HttpError(415, "bad_content_type", "Expected application/x-git-upload-pack-request.");
    res.writeHead(200, { "Content-Type": "application/x-git-upload-pack-result", "Cache-Control": "no-cache" });
    const body = req.headers["content-encoding"] === "gzip" ? req.pipe(zlib.createGunzip()) : req;
    await uploadPack(dir, [], res, body);
  });

  router.post("/git/:project/git-receive-pack", ({ req }) => {
    authorize(req);
    throw new HttpError(403, "read_only", "The sources are read-only: nothing can be pushed to kbs.");
  });
}
