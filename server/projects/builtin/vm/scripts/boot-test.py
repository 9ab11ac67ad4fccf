"""The boot test: boots out/ in QEMU (TCG, -no-reboot) with kbs.boottest=1 on the
kernel command line, so init prints the marker and reboots (QEMU exits). Succeeds only if
the marker appears on the serial console within CONFIG_VM_BOOT_TIMEOUT seconds.
The console output goes to out/boot.log and to stdout (the build log)."""
import argparse
import os
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dotconfig  # noqa: E402

# After the marker, how long init gets to end the VM before QEMU is killed.
END_GRACE_S = 15


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", default=".config")
    p.add_argument("--out", default="out")
    args = p.parse_args()
    cfg = dotconfig.load(args.config)
    if not dotconfig.enabled(cfg, "VM_BOOT_TEST"):
        with open(os.path.join(args.out, "boot.log"), "w") as f:
            f.write("boot test skipped: CONFIG_VM_BOOT_TEST is not set\n")
        print("boot-test: skipped (CONFIG_VM_BOOT_TEST is not set)")
        return 0
    marker = cfg.get("VM_BOOT_MARKER", "").encode()
    timeout = int(cfg.get("VM_BOOT_TIMEOUT", "120"))
    if not marker:
        sys.stderr.write("boot-test: CONFIG_VM_BOOT_MARKER is empty; nothing to wait for\n")
        return 1
    env = dict(os.environ, KBS_VM_APPEND="kbs.boottest=1")
    start = time.monotonic()
    qemu = subprocess.Popen(["sh", os.path.join(args.out, "run-qemu.sh"), "-no-reboot"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    seen_at = None
    log = b""
    deadline = start + timeout
    with open(os.path.join(args.out, "boot.log"), "wb") as out:
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            ready, _, _ = select.select([qemu.stdout], [], [], deadline - now)
            if not ready:
                break
            chunk = os.read(qemu.stdout.fileno(), 65536)
            if not chunk:
                break
            out.write(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            log += chunk
            if seen_at is None and marker in log:
                seen_at = time.monotonic() - start
                deadline = min(deadline, time.monotonic() + END_GRACE_S)
    if qemu.poll() is None:
        os.killpg(qemu.pid, signal.SIGKILL)
    code = qemu.wait()
    print()
    if seen_at is None:
        why = "QEMU exited with %s" % code if time.monotonic() < start + timeout else "timed out after %d s" % timeout
        sys.stderr.write("boot-test: FAILED: the marker %r did not appear on the serial console (%s); see out/boot.log\n"
                         % (marker.decode(), why))
        return 1
    print("boot-test: marker %r seen after %.2f s under QEMU TCG" % (marker.decode(), seen_at))
    return 0


if __name__ == "__main__":
    sys.exit(main())
