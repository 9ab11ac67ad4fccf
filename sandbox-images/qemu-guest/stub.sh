# The warm part of a qemu sandbox: booted and waiting for one launch line on ttyS0
# (a base64 shell script, or the Python stub's JSON when the image has Python).
# Control messages on ttyS1: "resize COLS ROWS"; "in BYTES": the first BYTES of the in-drive
# (/dev/nvme0n1) are a tar of /kbs/in (answered "ok" once unpacked, else "failed").
IN_DRIVE=/dev/nvme0n1
take_in() {
  # The disk is probed asynchronously at boot: wait for it (at most ~10 s).
  n=0
  while [ ! -b "$IN_DRIVE" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
  # What the partition scan read at boot is cached from before the host wrote the tar.
  # dd in 1 MiB reads: a third of the time head's small ones take under TCG.
  [ -b "$IN_DRIVE" ] && blockdev --flushbufs "$IN_DRIVE" && dd if="$IN_DRIVE" bs=1M count="$1" iflag=count_bytes,fullblock 2>/dev/null | tar -x -f - -C /kbs/in
}
(
  while read -r cmd a b; do
    case "$cmd" in
      resize) stty -F /dev/ttyS0 cols "$a" rows "$b" ;;
      in) if take_in "$a"; then echo ok; else echo failed; fi >/dev/ttyS1 ;;
    esac
  done </dev/ttyS1
) &
if [ "$KBS_STUB" = python ]; then
  # The same Python warm stub as on bwrap (curses, Kconfiglib, menuconfig preloaded),
  # run as the sandbox user; it prints the ready marker and reads the launch line itself.
  sh /kbs/limits.sh /kbs/pystub.sh
  code=$?
else
  stty -echo raw
  printf '\000KBS-READY\000'
  read -r line
  stty sane
  echo "${line#KBS-LAUNCH }" | base64 -d >/kbs/launch.sh
  sh /kbs/launch.sh
  code=$?
fi
tar -c -f /work/.out.tar -C /kbs/out . 2>/dev/null
printf 'out %d\n' "$(wc -c </work/.out.tar)" >/dev/ttyS1
cat /work/.out.tar >/dev/ttyS1
printf 'exit %d\n' "$code" >/dev/ttyS1
sleep 0.2
poweroff -f
