"""The warm part of a kbs sandbox.

Started by the pool ahead of need: the interpreter is up and curses, Kconfiglib and
menuconfig are imported, so a claimed sandbox shows its first screen at once. It
prints a ready marker on the pty, reads one launch line (echo off), then unpacks the
job's tars into /work, copies files, sets the window size and runs the job's argv:
`python3 script ...` (or `python3 -m module ...`) inside this interpreter, anything
else with exec.
"""

import base64
import builtins
import fcntl
import importlib.machinery
import json
import os
import runpy
import shutil
import signal
import struct
import sys
import tarfile
import termios
import threading
import types

import curses  # noqa: F401  (the point is having it loaded)

try:
    import kconfiglib  # noqa: F401
    import menuconfig  # noqa: F401
except ImportError:  # an image without Kconfiglib still serves exec jobs
    pass

READY = b"\x00KBS-READY\x00"
LAUNCH = b"KBS-LAUNCH "
PYTHONS = ("python3", "/usr/bin/python3", "python")
SAVED_MARKER = ".kbs-saved"  # written beside KCONFIG_CONFIG when a save request is done


class JobError(Exception):
    pass


def read_launch_line():
    """Read `KBS-LAUNCH <base64 json>\\n` from the pty with echo and line editing off."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    raw = termios.tcgetattr(fd)
    raw[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
    raw[6][termios.VMIN] = 1
    raw[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, raw)
    os.write(sys.stdout.fileno(), READY)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            chunk = os.read(fd, 65536)
            if not chunk:
                sys.exit(0)
            buf += chunk
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
    line = buf[buf.rfind(LAUNCH):].strip() if LAUNCH in buf else b""
    if not line.startswith(LAUNCH):
        raise JobError("expected a launch line")
    return json.loads(base64.b64decode(line[len(LAUNCH):]))


def inside(root, path):
    return path == root or path.startswith(root + os.sep)


def safe_name(name):
    if name.startswith("/") or ".." in name.split("/"):
        raise JobError(f"unsafe path in archive: {name!r}")
    return name


def extract(tar_path, root):
    """Unpack a tar into root, refusing anything that could land outside it."""
    root = os.path.realpath(root)
    with tarfile.open(tar_path) as tar:
        for m in tar:
            name = m.name
            while name.startswith("./"):
                name = name[2:]
            name = safe_name(name.rstrip("/"))
            if not name or name == ".":
                continue
            if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise JobError(f"refusing special file in archive: {name!r}")
            dest = os.path.join(root, name)
            parent = os.path.realpath(os.path.dirname(dest))
            if not inside(root, parent):
                raise JobError(f"archive path leaves /work through a link: {name!r}")
            if m.issym():
                target = os.path.realpath(os.path.join(parent, m.linkname))
                if m.linkname.startswith("/") or not inside(root, target):
                    raise JobError(f"link points outside /work: {name!r} -> {m.linkname!r}")
            if m.islnk():
                target = os.path.realpath(os.path.join(root, safe_name(m.linkname)))
                if not inside(root, target):
                    raise JobError(f"hard link points outside /work: {name!r} -> {m.linkname!r}")
            if os.path.islink(dest) or (os.path.lexists(dest) and not m.isdir()):
                os.unlink(dest)
            m.name = name
            m.mode &= 0o777
            m.uid = m.gid = os.getuid()
            tar.extract(m, root, set_attrs=not m.issym(), numeric_owner=True)


def set_window(cols, rows):
    try:
        fcntl.ioctl(sys.stdout.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError:
        pass


def run_python(argv):
    """Run `python3 script args`, `python3 -m module args` or `python3 -c code` in this interpreter."""
    args = argv[1:]
    while args and args[0] in ("-u", "-s", "-B", "-E", "-I"):
        args = args[1:]
    if not args:
        raise JobError("python3 needs a script or -m module")
    if args[0] == "-c":
        if len(args) < 2:
            raise JobError("python3 -c needs a program")
        sys.argv = ["-c"] + args[2:]
        sys.path.insert(0, "")
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        return
    if args[0] == "-m":
        if len(args) < 2:
            raise JobError("python3 -m needs a module name")
        sys.argv = [args[1]] + args[2:]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return
    script = os.path.abspath(args[0])
    script_dir = os.path.dirname(script)
    if os.path.exists(os.path.join(script_dir, "kconfiglib.py")):
        # The tree ships its own Kconfiglib: drop ours so the tree's copy is imported.
        for mod in ("kconfiglib", "menuconfig"):
            sys.modules.pop(mod, None)
    sys.argv = [args[0]] + args[1:]
    sys.path.insert(0, script_dir)
    run_script(script)


def run_script(script):
    """Run a script as __main__ from its cached bytecode when importlib finds it valid (a
    tree's prebuilt unchecked-hash .pyc), else compiled from source, as runpy.run_path
    would: under qemu's TCG, compiling Kconfiglib's 100 KB menuconfig.py takes a second."""
    loader = importlib.machinery.SourceFileLoader("__main__", script)
    code = loader.get_code("__main__")
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=script, __loader__=loader, __builtins__=builtins)
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def install_save_handler():
    """SIGUSR1 from kbs (the portal's Save button): write the config now, as menuconfig's
    own save does. menuconfig spends its time blocked in curses' getch, where Python
    signal handlers do not run (ncurses retries on EINTR); but the C-level handler writes
    the signal to the wakeup fd at once, and curses releases the GIL while it waits. So a
    thread reads the wakeup pipe and calls `write_config` on the running menuconfig's
    `_kconf`, found among the main thread's frames. Before launch, or in a job that is not
    Kconfiglib's menuconfig, there is no `_kconf` and the request only reports done."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.signal(signal.SIGUSR1, lambda *_: None)  # ignore at Python level; the thread does the work
    signal.set_wakeup_fd(w)
    main_id = threading.main_thread().ident

    def save():
        config = os.path.abspath(os.environ.get("KCONFIG_CONFIG", ".config"))
        try:
            frame = sys._current_frames().get(main_id)
            while frame is not None:
                g = frame.f_globals
                kconf = g.get("_kconf")
                if kconf is not None and hasattr(kconf, "write_config"):
                    kconf.write_config(config)  # writes nothing when nothing changed
                    if "_conf_changed" in g:
                        g["_conf_changed"] = False  # saved: no "save before exit?" question
                    break
                frame = frame.f_back
        except Exception:  # a failed write must not take menuconfig down
            pass
        finally:
            # Tells kbs the request is done (written, unchanged, or nothing to save).
            try:
                with open(os.path.join(os.path.dirname(config), SAVED_MARKER), "w") as f:
                    f.write("saved\n")
            except OSError:
                pass

    def serve():
        try:
            while True:
                for signum in os.read(r, 64):
                    if signum == signal.SIGUSR1:
                        save()
        except OSError:  # a job about to exec closed every fd: nothing left to save for
            return

    threading.Thread(target=serve, name="kbs-save", daemon=True).start()


def main():
    install_save_handler()
    try:
        job = read_launch_line()
        os.makedirs("/work", exist_ok=True)
        for tar_path in job.get("extract", []):
            extract(tar_path, "/work")
        for c in job.get("copy") or []:
            shutil.copyfile(c["from"], c["to"])
        set_window(int(job["cols"]), int(job["rows"]))
        os.chdir(job.get("cwd") or "/work")
        os.environ.update({str(k): str(v) for k, v in (job.get("env") or {}).items()})
        argv = [str(a) for a in job["argv"]]
        if not argv:
            raise JobError("empty argv")
    except (JobError, OSError, tarfile.TarError, KeyError, ValueError) as e:
        sys.stderr.write(f"kbs sandbox: cannot start the job: {e}\r\n")
        sys.stderr.flush()
        sys.exit(125)
    if argv[0] in PYTHONS:
        try:
            run_python(argv)
        except SystemExit:
            raise
        finally:
            sys.stdout.flush()
        sys.exit(0)
    os.closerange(3, 1024)
    try:
        os.execvpe(argv[0], argv, os.environ)
    except OSError as e:
        sys.stderr.write(f"kbs sandbox: cannot run {argv[0]}: {e}\r\n")
        sys.exit(127)


if __name__ == "__main__":
    main()
