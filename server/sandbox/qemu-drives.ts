import fs from "node:fs";
import type { RunRequest, RunResult } from "./types";
import { collectTar } from "./untrusted";

const MiB = 2 ** 20;
export const mib = (n: number) => (n / MiB).toFixed(1);
/** What a tar takes beyond its files' bytes, per entry: a header, a GNU long-name header and its block. */
const TAR_ENTRY = 1536;
const DEFAULT_MAX_FILES = 100_000;

/** GNU tar writes whole records of 20 blocks. */
const TAR_RECORD = 10240;

/** What `tar -c` of `dir` takes at most: a header per entry (and "." itself), each file padded to 512 bytes, the end blocks, in whole records. */
export function tarSize(dir: string): number {
  let size = 1024 + TAR_ENTRY;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    size += TAR_ENTRY;
    if (e.isFile()) size += Math.ceil(fs.statSync(`${e.parentPath}/${e.name}`).size / 512) * 512;
  }
  return Math.ceil(size / TAR_RECORD) * TAR_RECORD;
}

/**
 * A sparse raw file per sandbox that qemu gives the guest as an NVMe disk: the cloud
 * kernel builds NVMe in (virtio-blk is a module), and under TCG a disk moves megabytes
 * in the time the 16550 serial port moves kilobytes. Removed with the sandbox's dir.
 */
abstract class TransferDrive {
  readonly capacity: number;

  constructor(
    protected readonly file: string,
    capacity: number,
    private readonly id: string,
    private readonly readonly: boolean,
  ) {
    this.capacity = Math.ceil(capacity / MiB) * MiB;
    fs.writeFileSync(file, "");
    fs.truncateSync(file, this.capacity);
  }

  /** qemu's arguments for it (a comma in the path is doubled, as qemu's option syntax wants). */
  args(): string[] {
    const drive = `file=${this.file.replace(/,/g, ",,")},if=none,id=${this.id},format=raw,readonly=${this.readonly ? "on" : "off"}`;
    return ["-drive", drive, "-device", `nvme,serial=${this.id},drive=${this.id}`];
  }
}

/**
 * A warm guest's /kbs/in: read-only to the guest. At launch the host writes the tar at
 * its start and sends the length over the control port; the guest drops its cached
 * blocks of the disk (the partition scan read them at boot) and reads that many bytes.
 */
export class InDrive extends TransferDrive {
  constructor(file: string, capacity: number) {
    super(file, capacity, "kbs-in", true);
  }

  write(data: Buffer): void {
    if (data.length > this.capacity) throw new Error(`/kbs/in is ${mib(data.length)} MiB, more than the drive's ${mib(this.capacity)} MiB`);
    const fd = fs.openSync(this.file, "r+");
    try {
      fs.writeSync(fd, data, 0, data.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * A one-shot guest's /kbs/out (RunRequest.collect): writable by the guest's init, which
 * writes the outputs' tar at its start once the job exited and says its length on the
 * status port. The length is the guest's word: checked, and the tar parsed strictly.
 */
export class OutDrive extends TransferDrive {
  constructor(
    file: string,
    private readonly limits: NonNullable<RunRequest["collect"]>,
  ) {
    super(file, limits.maxBytes + (limits.maxFiles ?? DEFAULT_MAX_FILES) * TAR_ENTRY + MiB, "kbs-out", false);
  }

  /** The outputs the guest said it wrote (`claimed`: the length it sent, if it sent one), parsed into `collect.into`. Never rejects. */
  async collect(claimed: string | undefined): Promise<NonNullable<RunResult["collected"]>> {
    if (claimed === undefined) return { error: "the sandbox sent back no outputs (the job did not finish, or the guest could not write them)" };
    const bytes = /^\d{1,16}$/.test(claimed) ? Number(claimed) : NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 1024) return { error: `the sandbox's outputs are not a tar archive (it claimed a length of "${claimed.slice(0, 40)}")` };
    if (bytes > this.capacity) return { error: `the sandbox claimed ${mib(bytes)} MiB of outputs, more than the ${mib(this.capacity)} MiB it could write: refused` };
    try {
      const { into, maxBytes, maxFiles } = this.limits;
      return await collectTar(fs.createReadStream(this.file, { start: 0, end: bytes - 1 }), into, { maxBytes, maxFiles: maxFiles ?? DEFAULT_MAX_FILES });
    } catch (e) {
      return { error: (e as Error).message };
    }
  }
}
