import { log } from "../core/log";
import type { KconfigTools } from "./kconfig-tools";
import type { ConfigStore, DerivedConfig, StoredConfig } from "./store";

/**
 * The minimal form and the changed-from-default list of a stored config, computed
 * once in a sandbox and kept beside it (a config id never changes its content).
 * Concurrent requests for the same id share one computation.
 */
export class DerivedConfigs {
  private inflight = new Map<string, Promise<DerivedConfig>>();
  private writing = new Map<string, Promise<string>>();

  constructor(
    private readonly store: ConfigStore,
    private readonly tools: KconfigTools,
  ) {}

  get(config: StoredConfig): Promise<DerivedConfig> {
    const cached = this.store.derived(config.id);
    if (cached) return Promise.resolve(cached);
    let p = this.inflight.get(config.id);
    if (!p) {
      p = this.compute(config).finally(() => this.inflight.delete(config.id));
      this.inflight.set(config.id, p);
    }
    return p;
  }

  /**
   * The config as the tree's own tools write it: kept from when it was written (a session
   * save, the tree's make), else, for an upload, the tree's olddefconfig of it, computed
   * once and kept. A tree whose olddefconfig fails gets the canonical form.
   */
  written(config: StoredConfig): Promise<string> {
    if (config.written !== undefined) return Promise.resolve(config.written);
    let p = this.writing.get(config.id);
    if (!p) {
      p = this.tools
        .olddefconfig(config.project, { kconfigHash: config.kconfigHash }, config.text)
        .then((text) => {
          this.store.setWritten(config.id, text);
          return text;
        })
        .catch((e: unknown) => {
          log.warn({ err: e, config: config.id }, "the tree's olddefconfig failed; serving the canonical form");
          return config.text;
        })
        .finally(() => this.writing.delete(config.id));
      this.writing.set(config.id, p);
    }
    return p;
  }

  private async compute(config: StoredConfig): Promise<DerivedConfig> {
    const rev = { kconfigHash: config.kconfigHash };
    const [defconfig, changed] = await Promise.all([
      this.tools.savedefconfig(config.project, rev, config.text),
      this.tools.changed(config.project, rev, config.text),
    ]);
    const d = { defconfig, changed };
    this.store.saveDerived(config.id, d);
    log.debug({ config: config.id, changed: changed.length }, "config derived forms computed");
    return d;
  }
}
