# The warm part of a qemu sandbox: booted and waiting for one launch line on ttyS0
# (a base64 shell script, or the Python stub's JSON when the image has Python).
# Control messages on ttyS1: "resize COLS ROWS", "in BYTES" + a gzip'd tar of /kbs/in (answered "ok").
(
  while read -r cmd a b; do
    case "$cmd" in
      resize) stty -F /dev/ttyS0 cols "$a" rows "$b" ;;
      in) head -c "$a" >/work/.in.tar && tar -x -z -f /work/.in.tar -C /kbs/in && rm -f /work/.in.tar; echo ok >/dev/ttyS1 ;;
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
