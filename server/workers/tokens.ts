import crypto from "node:crypto";
import { migrate, type Db } from "../core/db";
import { conflict, invalid, KbsError } from "../core/errors";

/**
 * Worker tokens (`kbs worker-token create|list|revoke`): what a remote `kbs worker`
 * shows the server. Only the sha256 of the secret is stored; the token is printed once.
 * A token reads sources (/git/<project>) and the jobs its worker holds, and writes
 * results for those jobs only.
 */
const migrations = [
  `CREATE TABLE worker_tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     secret_sha256 TEXT NOT NULL,
     created_at TEXT NOT NULL,
     revoked_at TEXT,
     last_used_at TEXT
   );`,
];

export interface WorkerToken {
  id: string;
  name: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

interface Row {
  id: string;
  name: string;
  secret_sha256: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

const toToken = (r: Row): WorkerToken => ({ id: r.id, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at });
const digest = (secret: string) => crypto.createHash("sha256").update(secret).digest("hex");
const TOKEN = /^kbsw_([0-9a-f]{12})_([0-9a-f]{48})$/;

export const tokenHelp = "Create a token on the server with `kbs worker-token create <name>` and start the worker with --token; `kbs worker-token list` shows which are valid.";

export class WorkerTokens {
  private lastTouched = new Map<string, number>();

  constructor(private db: Db) {
    migrate(db, { part: "worker_tokens", migrations });
  }

  /** A new token; the secret is only in the returned string. */
  create(name: string): { token: string; info: WorkerToken } {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw invalid("bad_token_name", `A token name is 1-64 letters, digits, '.', '_' or '-' (got ${JSON.stringify(name)}).`);
    if (this.db.prepare("SELECT 1 FROM worker_tokens WHERE name = ?").get(name)) throw conflict("token_exists", `A token named '${name}' exists already; revoke it or pick another name.`);
    const id = crypto.randomBytes(6).toString("hex");
    const secret = crypto.randomBytes(24).toString("hex");
    this.db.prepare("INSERT INTO worker_tokens (id, name, secret_sha256, created_at) VALUES (?, ?, ?, ?)").run(id, name, digest(secret), new Date().toISOString());
    return { token: `kbsw_${id}_${secret}`, info: this.get(id)! };
  }

  get(id: string): WorkerToken | undefined {
    const r = this.db.prepare("SELECT * FROM worker_tokens WHERE id = ?").get(id) as Row | undefined;
    return r && toToken(r);
  }

  list(): WorkerToken[] {
    return (this.db.prepare("SELECT * FROM worker_tokens ORDER BY created_at").all() as Row[]).map(toToken);
  }

  /** Revoke by name or id; false when there is no such live token. */
  revoke(nameOrId: string): boolean {
    return this.db.prepare("UPDATE worker_tokens SET revoked_at = ? WHERE (name = ? OR id = ?) AND revoked_at IS NULL").run(new Date().toISOString(), nameOrId, nameOrId).changes === 1;
  }

  /** The live token an `Authorization: Bearer` header carries, or a 401 that says how to get one. */
  authenticate(header: string | undefined): WorkerToken {
    const m = TOKEN.exec(/^Bearer (\S+)$/.exec(header ?? "")?.[1] ?? "");
    const r = m && (this.db.prepare("SELECT * FROM worker_tokens WHERE id = ?").get(m[1]) as Row | undefined);
    const given = m ? Buffer.from(digest(m[2]!), "hex") : undefined;
    if (!m || !r || !given || !crypto.timingSafeEqual(given, Buffer.from(r.secret_sha256, "hex"))) {
      throw new KbsError("unauthorized", "bad_worker_token", `${m ? "This worker token is not known here." : "A worker token is needed (Authorization: Bearer kbsw_...)."} ${tokenHelp}`);
    }
    if (r.revoked_at) throw new KbsError("unauthorized", "revoked_worker_token", `The worker token '${r.name}' was revoked at ${r.revoked_at}. ${tokenHelp}`);
    // last_used_at is for `kbs worker-token list`: a write a minute per token is plenty.
    const now = Date.now();
    if ((this.lastTouched.get(r.id) ?? 0) < now - 60_000) {
      this.lastTouched.set(r.id, now);
      this.db.prepare("UPDATE worker_tokens SET last_used_at = ? WHERE id = ?").run(new Date(now).toISOString(), r.id);
    }
    return toToken(r);
  }
}
