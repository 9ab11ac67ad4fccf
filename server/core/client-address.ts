import net from "node:net";
import type { IncomingMessage } from "node:http";

/**
 * KBS_TRUSTED_PROXIES: comma-separated CIDRs (or addresses) of the reverse proxies in front
 * of kbs. The per-client limits key on the peer address; a request from one of these
 * proxies is keyed on the address its X-Forwarded-For names instead — the rightmost one
 * not itself a trusted proxy — and from any other peer the header is ignored.
 */
export function parseTrustedProxies(text: string): net.BlockList {
  const list = new net.BlockList();
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [addr, bits] = item.split("/") as [string, string?];
    const family = net.isIPv4(addr) ? "ipv4" : net.isIPv6(addr) ? "ipv6" : undefined;
    const max = family === "ipv4" ? 32 : 128;
    if (!family || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      throw new Error(`KBS_TRUSTED_PROXIES: '${item}' is not an address or CIDR (e.g. 10.0.0.0/8, 192.168.1.5, fd00::/8)`);
    }
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
  }
  return list;
}

const unmap = (a: string) => (a.startsWith("::ffff:") && net.isIPv4(a.slice(7)) ? a.slice(7) : a);

function trusted(list: net.BlockList, addr: string): boolean {
  const a = unmap(addr);
  const family = net.isIPv4(a) ? "ipv4" : net.isIPv6(a) ? "ipv6" : undefined;
  return family !== undefined && list.check(a, family);
}

/** The client address the per-client limits count against. */
export function clientAddress(req: IncomingMessage, proxies: net.BlockList): string {
  const peer = unmap(req.socket.remoteAddress ?? "unknown");
  if (!trusted(proxies, peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((s) => unmap(s.trim())).filter((s) => net.isIP(s));
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted(proxies, hops[i]!)) return hops[i]!;
  return hops[0] ?? peer;
}
