/**
 * A classic-BPF seccomp filter for bwrap sandboxes (x86_64), built here so no compiler
 * or libseccomp binding is needed. It refuses what a build or menuconfig never needs
 * and what widens the kernel surface a sandbox can reach: new user namespaces (clone,
 * unshare with CLONE_NEWUSER; clone3 answers ENOSYS so libc falls back to clone, where
 * the flags can be checked), setns, mount, keyrings, bpf, perf events, userfaultfd,
 * io_uring, kernel modules and kexec. Other architectures and x32 calls are refused.
 */
const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_BIT = 0x40000000;
const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
const ENOSYS = 38;

const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = (e: number) => 0x00050000 | e;
const RET_KILL_PROCESS = 0x80000000;

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

const SYS = { clone: 56, unshare: 272, clone3: 435 };
/** Refused outright with EPERM. */
const DENIED: Record<string, number> = {
  mount: 165, umount2: 166, pivot_root: 155, setns: 308,
  add_key: 248, request_key: 249, keyctl: 250,
  kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313, delete_module: 176,
  bpf: 321, perf_event_open: 298, userfaultfd: 323,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
  open_by_handle_at: 304, name_to_handle_at: 303,
};

type Insn = [code: number, jt: number, jf: number, k: number];

export function seccompFilter(): Buffer {
  const prog: Insn[] = [];
  const ret = (k: number) => prog.push([RET_K, 0, 0, k]);
  prog.push([LD_W_ABS, 0, 0, 4]); // arch
  prog.push([JEQ_K, 1, 0, AUDIT_ARCH_X86_64]);
  ret(RET_KILL_PROCESS);
  prog.push([LD_W_ABS, 0, 0, 0]); // syscall number
  prog.push([JGE_K, 0, 1, X32_BIT]);
  ret(RET_ERRNO(ENOSYS));
  for (const nr of Object.values(DENIED)) {
    prog.push([JEQ_K, 0, 1, nr]);
    ret(RET_ERRNO(EPERM));
  }
  prog.push([JEQ_K, 0, 1, SYS.clone3]);
  ret(RET_ERRNO(ENOSYS));
  // clone and unshare: flags are the first argument (low 32 bits at offset 16).
  prog.push([JEQ_K, 1, 0, SYS.clone]);
  prog.push([JEQ_K, 0, 3, SYS.unshare]);
  prog.push([LD_W_ABS, 0, 0, 16]);
  prog.push([JSET_K, 0, 1, CLONE_NEWUSER]);
  ret(RET_ERRNO(EPERM));
  ret(RET_ALLOW);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buf;
}
