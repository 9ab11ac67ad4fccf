import fs from "node:fs";
import path from "node:path";

const MB = 1024 * 1024;

/**
 * A few MB of the data disk kept back, so what was started can still be finished when the
 * disk fills: a build that ran while it filled must still get its final state written, or
 * it would show "running" for ever. Released when such a write fails for want of space,
 * made again once there is room.
 */
export class DiskReserve {
  readonly file: string;

  constructor(dataDir: string, private readonly bytes = 4 * MB) {
    this.file = path.join(dataDir, ".kbs-disk-reserve");
  }

  /** Make the reserve if it is missing and the disk has ample room for it. */
  ensure(): void {
    try {
      if (fs.statSync(this.file, { throwIfNoEntry: false })?.size === this.bytes) return;
      const s = fs.statfsSync(path.dirname(this.file));
      if (s.bavail * s.bsize < 4 * this.bytes) return;
      fs.writeFileSync(this.file, Buffer.alloc(this.bytes));
    } catch {
      fs.rmSync(this.file, { force: true });
    }
  }

  /** Give the reserve back to the disk; false when there was none. */
  release(): boolean {
    if (!fs.existsSync(this.file)) return false;
    fs.rmSync(this.file, { force: true });
    return true;
  }
}
