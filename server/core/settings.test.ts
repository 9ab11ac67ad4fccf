import { describe, expect, it } from "vitest";
import { debugStackTraces, loadSettings, logLevel, SettingsError } from "./settings";

describe("settings: all configuration read from the environment in one place", () => {
  it("lets flags (overrides named by their variable) win over the environment, ignoring the ones not given", () => {
    const s = loadSettings({ PORT: "3000", HOST: "0.0.0.0", KBS_BUILD_WORKERS: "3" }, { PORT: "4000", HOST: undefined, KBS_BUILD_WORKERS: "" });
    expect({ port: s.port, host: s.host, workers: s.buildWorkers }).toEqual({ port: 4000, host: "0.0.0.0", workers: 3 });
    expect(() => loadSettings({}, { PORT: "many" })).toThrow(SettingsError);
  });

  it("reads the sandbox and pool knobs, with their defaults", () => {
    expect(loadSettings({}).sandboxes).toEqual({ allowNetwork: false, uidBase: 200_000, uidCount: 50_000, poolIdleMs: 1_800_000, poolImages: ["menuconfig"], spawnConcurrency: 4, qemuKernel: undefined, qemuAccel: "tcg" });
    const s = loadSettings({ KBS_POOL_IMAGES: "menuconfig, build ,", KBS_POOL_IDLE_SECONDS: "60", KBS_QEMU_ACCEL: "kvm", KBS_QEMU_KERNEL: "/boot/vmlinuz" }).sandboxes;
    expect(s).toMatchObject({ poolImages: ["menuconfig", "build"], poolIdleMs: 60_000, qemuAccel: "kvm", qemuKernel: "/boot/vmlinuz" });
    expect(() => loadSettings({ KBS_SANDBOX_SPAWN_CONCURRENCY: "0" })).toThrow(/KBS_SANDBOX_SPAWN_CONCURRENCY must be at least 1/);
    expect(() => loadSettings({ KBS_QEMU_ACCEL: "hvf" })).toThrow(/KBS_QEMU_ACCEL must be tcg or kvm/);
  });

  it("reads the log level and KBS_DEBUG on their own, a bad level falling back to info (loadSettings reports it)", () => {
    expect(logLevel({ KBS_LOG_LEVEL: "warn" })).toBe("warn");
    expect(logLevel({})).toBe("info");
    expect(logLevel({ KBS_LOG_LEVEL: "loud" })).toBe("info");
    expect(() => loadSettings({ KBS_LOG_LEVEL: "loud" })).toThrow(SettingsError);
    expect(debugStackTraces({ KBS_DEBUG: "1" })).toBe(true);
    expect(debugStackTraces({})).toBe(false);
  });
});
