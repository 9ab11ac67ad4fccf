import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { createFakeFirmwareRepo, type FakeFirmwareRepo } from "../fixtures/fake-firmware";
import { createFakeLinuxRepo } from "../fixtures/fake-linux";
import { git } from "./projects";
import { kbsBin } from "./server";
import type { ServerMessage } from "../../contracts/terminal-protocol";
import { keys, type TerminalClient } from "./terminal";

const execFileP = promisify(execFile);

/** Menuconfig session tests: projects added with the kbs command, sessions started over HTTP, menus left by keys. */

export const TITLE = "kbs demo firmware configuration";
export const TINY_TITLE = "Tiny mconf project";

/** `kbsCli` without blocking the test worker (a sync that builds a tree's tools takes a while). */
export async function kbsCliAsync(dataDir: string, args: string[]): Promise<string> {
  const r = await execFileP(process.execPath, [kbsBin, ...args], { encoding: "utf8", env: { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0" }, maxBuffer: 64 * 1024 * 1024 }).catch((e: { code?: number; stdout?: string; stderr?: string }) => {
    throw new Error(`kbs ${args.join(" ")} failed (${e.code}):\n${e.stdout}\n${e.stderr}`);
  });
  return r.stdout;
}

export function kbsCli(dataDir: string, args: string[]): string {
  const r = spawnSync(process.execPath, [kbsBin, ...args], { encoding: "utf8", env: { ...process.env, KBS_DATA_DIR: dataDir, KBS_UPSTREAMS: "0" } });
  if (r.status !== 0) throw new Error(`kbs ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A git repo with a two-symbol Kconfig for the mconf recipe (system kconfig-mconf). */
export function createTinyMconfRepo(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "Kconfig"),
    `mainmenu "${TINY_TITLE}"\n\nconfig WIDGET\n\tbool "Enable the widget"\n\tdefault n\n\nconfig SPEED\n\tint "Widget speed"\n\tdefault 3\n`,
  );
  fs.writeFileSync(path.join(dir, "Makefile"), "all:\n\t@echo built\n");
  git(dir, ["init", "-q", "-b", "master"]);
  git(dir, ["add", "-A"]);
  git(dir, ["commit", "-q", "-m", "tiny"]);
  git(dir, ["tag", "v1.0"]);
}

export async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

export async function newSession(url: string, body: Record<string, unknown>): Promise<{ id: string; wsPath: string; kconfigHash: string }> {
  const r = await post(`${url}/api/sessions`, body);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; wsPath: string; kconfigHash: string };
}

/** A series' value on /metrics (0 when absent). */
export async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * Wait until `project`'s primer is done topping up: at least one primed session, and as
 * many ready as its demand asks for (none still launching). How many that is follows the
 * tree's recent demand, and so the machine's speed; returns it.
 */
export async function primedReady(url: string, project: string): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const primed = await metric(url, `kbs_sessions_primed{project="${project}"}`);
    if (primed >= 1 && primed >= (await metric(url, `kbs_sessions_primed_wanted{project="${project}"}`))) return primed;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no settled primed sessions for ${project} within 30 s:\n${await (await fetch(`${url}/metrics`)).text()}`);
}

/**
 * The session tests' projects in `dataDir`: `fw` (Klipper-like, its own Kconfiglib),
 * `tiny` (system mconf) and `kern` (the fake kernel tree), added and synced with the kbs command.
 */
export async function addSessionProjects(dataDir: string, work: string): Promise<FakeFirmwareRepo> {
  const fw = createFakeFirmwareRepo(path.join(work, "fw"), { ownKconfiglib: true });
  createTinyMconfRepo(path.join(work, "tiny"));
  createFakeLinuxRepo(path.join(work, "kern"));
  kbsCli(dataDir, ["project", "add", "fw", "--recipe", "klipper", "--url", path.join(work, "fw")]);
  kbsCli(dataDir, ["project", "add", "tiny", "--recipe", "mconf", "--url", path.join(work, "tiny")]);
  kbsCli(dataDir, ["project", "add", "kern", "--recipe", "linux", "--url", path.join(work, "kern")]);
  await kbsCliAsync(dataDir, ["sync", "fw", "tiny", "kern"]);
  return fw;
}

/** Move the selection from the first menu entry to the entry showing `label` (menus differ between revisions). */
export async function selectEntry(c: TerminalClient, first: string, label: string): Promise<void> {
  const steps = await c.until(`entries '${first}' and '${label}' on screen`, () => {
    const lines = c.screen.lines();
    const from = lines.findIndex((l) => l.includes(first));
    const to = lines.findIndex((l) => l.includes(label));
    return from >= 0 && to >= from && { n: to - from };
  });
  await c.arrow("down", steps.n);
}

/** From the demo tree's top menu: turn "Debug messages" on and save with menuconfig's own S; the `saved` message. */
export async function enableDebugAndSave(c: TerminalClient): Promise<Extract<ServerMessage, { type: "saved" }>> {
  await selectEntry(c, "Target architecture", "Debug messages");
  c.type(keys.space);
  await c.untilText("[*] Debug messages");
  c.type("S");
  await c.untilText("/kbs/out/.config");
  c.type(keys.enter);
  return c.untilMessage("saved");
}

/** Quit Kconfiglib's menuconfig without saving and wait for the session to end. */
export async function quit(c: TerminalClient): Promise<void> {
  c.type("Q");
  await c.untilText("Save configuration?");
  c.type("N");
  await c.untilMessage("exit");
  await c.untilClosed();
}

/** Leave mconf without saving (Esc Esc, then No) and wait for the session to end. */
export async function quitMconf(c: TerminalClient): Promise<void> {
  c.type("\x1b\x1b");
  await c.untilText(/save your new configuration/i);
  c.type(keys.tab);
  c.type(keys.enter);
  await c.untilMessage("exit");
  await c.untilClosed();
}
