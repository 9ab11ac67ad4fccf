// The pages' server side (components/api/server.ts) reaches the kbs API over loopback at the
// address server/main.ts listens on; main.ts hands it over here once it listens. Next runs
// in the same process but bundles its own copy of every module, so the address is kept on
// globalThis under a registered symbol (one per process), not in a module variable.

const key = Symbol.for("kbs.internalUrl");
const holder = globalThis as { [key]?: string };

export function setInternalUrl(url: string): void {
  holder[key] = url;
}

export function internalUrl(): string {
  const url = holder[key];
  if (!url) throw new Error("The kbs API address is not set: pages must be served by `kbs serve`.");
  return url;
}
