import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { loadSettings, SettingsError } from "./settings";
import { clientAddress, parseTrustedProxies } from "./client-address";

const req = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { "x-forwarded-for": xff } }) as unknown as IncomingMessage;

describe("KBS_TRUSTED_PROXIES: the client address behind a reverse proxy", () => {
  it("uses X-Forwarded-For only from the listed proxies, taking the rightmost hop that is not one of them", () => {
    const proxies = parseTrustedProxies("10.0.0.0/8, 192.168.1.5, fd00::/8");
    expect(clientAddress(req("10.1.2.3", "203.0.113.7"), proxies)).toBe("203.0.113.7");
    expect(clientAddress(req("::ffff:10.1.2.3", "203.0.113.7"), proxies)).toBe("203.0.113.7");
    expect(clientAddress(req("192.168.1.5", "198.51.100.1, 203.0.113.7, 10.9.9.9"), proxies)).toBe("203.0.113.7");
    expect(clientAddress(req("fd00::1", "2001:db8::5"), proxies)).toBe("2001:db8::5");
    // Anyone else's header is a claim, not an address.
    expect(clientAddress(req("203.0.113.9", "198.51.100.1"), proxies)).toBe("203.0.113.9");
    expect(clientAddress(req("192.168.1.6", "198.51.100.1"), proxies)).toBe("192.168.1.6");
    // A proxy that forwards no usable address: the proxy itself.
    expect(clientAddress(req("10.1.2.3"), proxies)).toBe("10.1.2.3");
    expect(clientAddress(req("10.1.2.3", "garbage"), proxies)).toBe("10.1.2.3");
    expect(clientAddress(req("127.0.0.1", "198.51.100.1"), parseTrustedProxies(""))).toBe("127.0.0.1");
  });

  it("refuses a setting that is not a list of addresses and CIDRs, naming the bad item", () => {
    expect(() => loadSettings({ KBS_TRUSTED_PROXIES: "10.0.0.0/8,proxy.example" })).toThrow(SettingsError);
    expect(() => loadSettings({ KBS_TRUSTED_PROXIES: "10.0.0.0/33" })).toThrow(/'10.0.0.0\/33' is not an address or CIDR/);
  });
});
