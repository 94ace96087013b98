#!/bin/sh
# The guest half of tests/vm/booted.test.ts. apt-ostree-autotest.service runs it as root from the test disk
# (label APTTEST, mounted on /run/apttest) once every boot is complete, then powers the machine off.
#
# The host names the phase on the kernel command line (apt-ostree.vmtest=PHASE), so a boot that came up in the wrong
# deployment is checked as what it should have been, never mistaken for the next phase. What a later boot compares
# against (the deployment a rollback should bring back, ...) is kept on the test disk, in state/, since every reboot
# here also changes the deployment.
#
# The host reads one line per event on stdout (the second serial port; tests/vm/lib/protocol.ts):
#   VMTEST begin PART TITLE     VMTEST pass PART WHAT     VMTEST fail PART WHAT     VMTEST end PART MILLISECONDS
#   VMTEST alive UPTIME (a heartbeat while a long command runs)
# Everything else is the output of the commands, kept as an artifact.

D=/run/apttest
STATE=$D/state
mkdir -p "$STATE"
# V1, V2: the image commits; V2_VERSION; REF; REMOTE (the name of the remote the deployments follow).
# shellcheck source=/dev/null
. "$D/vm.env"
OUT=$(mktemp)
PHASE=$(sed -n 's/.*apt-ostree\.vmtest=\([a-z0-9-]*\).*/\1/p' /proc/cmdline)
export LC_ALL=C.UTF-8

(while sleep 60; do echo "VMTEST alive $(cut -d' ' -f1 /proc/uptime)"; done) &
HEARTBEAT=$!
trap 'kill $HEARTBEAT 2>/dev/null; rm -f "$OUT"' EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }
begin() { PART=$1; shift; PART_T0=$(ms); echo; echo "VMTEST begin $PART $*"; }
end() { echo "VMTEST end $PART $(($(ms) - PART_T0))"; }
pass() { echo "VMTEST pass $PART $*"; }
fail() { echo "VMTEST fail $PART $*"; }

# A command's output without its progress: the bars apt-ostree redraws in place on a terminal (erase-line, then the
# new state) and the percentages and rates it prints as lines otherwise.
show() {
  sed 's/\x1b\[2K/\n/g; s/\r/\n/g' "$1" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' \
    | grep -v -e '\[[#-]\{8,\}\]' -e '…$' -e ': [0-9]*%$' -e 'B/s)\( ETA .*\)\?$' | tail -n 60 | sed 's/^/    /'
}

# run LIMIT CMD...: CMD with its output shown (and left in $OUT); its exit status.
run() {
  limit=$1; shift
  echo "  \$ $*"
  timeout "$limit" "$@" >"$OUT" 2>&1
  rc=$?
  show "$OUT"
  [ $rc -eq 124 ] && echo "    (killed after ${limit}s)"
  [ $rc -ne 0 ] && echo "    (exit status $rc)"
  return $rc
}

# expect WHAT CMD...: one check.
expect() {
  what=$1; shift
  if run 120 "$@"; then pass "$what"; else fail "$what"; fi
}

# A root client that finds no daemon runs the engine itself (with a notice): here that is a failure, the point is
# the daemon.
through_daemon() {
  if grep -q 'apt-ostreed is not reachable' "$OUT"; then
    echo "    (the client ran in-process: apt-ostreed was not reachable)"
    return 1
  fi
}

# aot WHAT LIMIT ARGS...: apt-ostree ARGS as root, through apt-ostreed.
aot() {
  what=$1; limit=$2; shift 2
  if run "$limit" apt-ostree "$@" && through_daemon; then pass "$what"; return 0; fi
  fail "$what"
  return 1
}

# has_command NAME: the command exists in this apt-ostree (some arrive later than this test).
has_command() { apt-ostree "$1" --help >/dev/null 2>&1; }

# facts: `apt-ostree status --json` as shell variables: COUNT, BOOTED_COUNT, and for BOOTED, DEFAULT (index 0) and
# ROLLBACK: _CHECKSUM, _BASE (the base commit: the checksum itself when nothing is layered), _VERSION, _SERIAL,
# _DEPLOY (checksum.serial, the directory name), _PACKAGES (requested), _KARGS, _REGEN (true/false), _UNLOCKED,
# _STAGED (true/false).
facts() {
  if ! timeout 300 apt-ostree status --json >"$STATE/status.json" 2>"$OUT"; then
    show "$OUT"
    return 1
  fi
  # jq, not node: under TCG Node takes several seconds just to start.
  jq -r '
.deployments as $all
| "COUNT=\($all | length)",
  "BOOTED_COUNT=\($all | map(select(.booted)) | length)",
  ( [["BOOTED", ($all | map(select(.booted)) | first)], ["DEFAULT", $all[0]], ["ROLLBACK", ($all | map(select(.rollback)) | first)]][]
    | .[0] as $n | (.[1] // {}) as $d
    | "\($n)_CHECKSUM=\($d.checksum // "" | @sh)",
      "\($n)_BASE=\($d["base-checksum"] // $d.checksum // "" | @sh)",
      "\($n)_VERSION=\($d.version // "" | @sh)",
      "\($n)_SERIAL=\($d.serial // "" | tostring | @sh)",
      "\($n)_DEPLOY=\(if $d.checksum then "\($d.checksum).\($d.serial)" else "" end | @sh)",
      "\($n)_PACKAGES=\($d["requested-packages"] // [] | join(" ") | @sh)",
      "\($n)_KARGS=\($d.kargs // [] | join(" ") | @sh)",
      "\($n)_REGEN=\($d["regenerate-initramfs"] // false | tostring | @sh)",
      "\($n)_UNLOCKED=\($d.unlocked // "" | @sh)",
      "\($n)_STAGED=\($d.staged // false | tostring | @sh)" )
' "$STATE/status.json" >"$STATE/facts.sh" || return 1
  # shellcheck source=/dev/null
  . "$STATE/facts.sh"
  echo "    status: $COUNT deployments; booted $BOOTED_DEPLOY (base ${BOOTED_BASE%"${BOOTED_BASE#??????????}"}, $BOOTED_VERSION," \
    "packages: ${BOOTED_PACKAGES:-none}); default $DEFAULT_DEPLOY; rollback ${ROLLBACK_DEPLOY:-none}"
}

# fact WHAT VALUE EXPECTED: a fact from `facts` compared.
fact() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', expected '$3')"; fi
}

# has_word LIST WORD
has_word() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

phase_base() {
  begin 1 "booted status, daemon-ping, bus activation"
  # Nothing has called apt-ostreed yet in this boot and its unit has no [Install]: only bus activation can start it.
  state=$(systemctl is-active apt-ostreed)
  if [ "$state" != active ]; then pass "apt-ostreed is not running before the first call ($state)"; else fail "apt-ostreed already running"; fi
  if facts; then
    fact "one deployment" "$COUNT" 1
    fact "it is the booted one" "$BOOTED_COUNT" 1
    fact "the booted deployment is the v1 commit" "$BOOTED_CHECKSUM" "$V1"
  else
    fail "status --json"
  fi
  aot "daemon-ping answers" 120 daemon-ping
  expect "apt-ostreed.service is active" systemctl is-active apt-ostreed
  expect "dbus-daemon started it by activation" \
    sh -c "journalctl -b -o cat --no-pager -u dbus.service | grep -F \"Activating via systemd: service name='org.aptostree.AptOstree1'\""
  run 30 systemctl show apt-ostreed -p ActiveEnterTimestamp -p MainPID -p ExecMainStartTimestamp
  end

  begin 6 "polkit refuses a non-root install"
  id vmtest >/dev/null 2>&1 || useradd -m vmtest
  if run 600 runuser -u vmtest -- apt-ostree install chrony; then
    fail "a non-root user could install chrony"
  else
    pass "a non-root install fails"
    if grep -q 'error\[access-denied\]' "$OUT"; then
      pass "the error is error[access-denied]"
    else
      fail "no error[access-denied] line"
    fi
    if grep -q 'not authorized for org\.aptostree\.AptOstree1\.install-uninstall-packages' "$OUT"; then
      pass "apt-ostreed refused it after asking polkit"
    else
      fail "the refusal does not come from polkit's answer"
    fi
  fi
  expect "apt-ostreed logged the refusal" \
    sh -c "journalctl -b -o cat --no-pager -u apt-ostreed.service | grep 'refused: .*install-uninstall-packages'"
  end

  begin 2a "install chrony (root)"
  if aot "apt-ostree install chrony" 1200 install chrony && facts; then
    if has_word "$DEFAULT_PACKAGES" chrony; then pass "the new default deployment layers chrony"; else fail "no chrony in the default deployment ($DEFAULT_PACKAGES)"; fi
    fact "the booted deployment is unchanged" "$BOOTED_CHECKSUM" "$V1"
  fi
  end

  begin 3a "kargs --append"
  # A change made while another one is pending stacks on it (as in rpm-ostree): one reboot checks both.
  if aot "kargs --append=apt-ostree.test=1" 600 kargs --append=apt-ostree.test=1 && facts; then
    if has_word "$DEFAULT_KARGS" apt-ostree.test=1; then pass "the default deployment has the argument"; else fail "the default deployment's kargs: $DEFAULT_KARGS"; fi
    if has_word "$DEFAULT_PACKAGES" chrony; then pass "and still layers chrony"; else fail "the kargs change dropped chrony ($DEFAULT_PACKAGES)"; fi
  fi
  end
}

phase_layered() {
  begin 2b "chrony after the reboot"
  if facts; then
    if has_word "$BOOTED_PACKAGES" chrony; then pass "the booted deployment layers chrony"; else fail "booted packages: $BOOTED_PACKAGES"; fi
    fact "the booted deployment's base is v1" "$BOOTED_BASE" "$V1"
    fact "the rollback deployment is the plain v1" "$ROLLBACK_CHECKSUM" "$V1"
  else
    fail "status --json"
  fi
  # chrony may still be starting: the test begins as soon as the boot job queue is empty.
  i=0
  while [ $i -lt 60 ] && ! systemctl is-active -q chrony; do sleep 2; i=$((i + 1)); done
  expect "chrony.service is active" systemctl is-active chrony
  expect "user _chrony exists" getent passwd _chrony
  expect "chronyc --version works" chronyc --version
  expect "apt-ostree status shows the layered package" sh -c 'apt-ostree status | grep -E "LayeredPackages: .*chrony"'
  end

  begin 3b "the appended karg after the reboot"
  expect "/proc/cmdline has apt-ostree.test=1" grep -qw apt-ostree.test=1 /proc/cmdline
  end

  begin 4a "upgrade to v2 over HTTP"
  run 30 ostree remote show-url "$REMOTE"
  if aot "apt-ostree upgrade" 1800 upgrade && facts; then
    fact "the new default deployment is based on v2" "$DEFAULT_BASE" "$V2"
    if has_word "$DEFAULT_PACKAGES" chrony; then pass "and layers chrony again"; else fail "the upgrade dropped chrony ($DEFAULT_PACKAGES)"; fi
    if has_word "$DEFAULT_KARGS" apt-ostree.test=1; then pass "and keeps the appended karg"; else fail "the upgrade dropped the karg ($DEFAULT_KARGS)"; fi
  fi
  end

  begin 3c "initramfs --enable"
  if has_command initramfs; then
    if aot "apt-ostree initramfs --enable" 1800 initramfs --enable && facts; then
      fact "the default deployment regenerates its initramfs" "$DEFAULT_REGEN" true
      fact "it stacks on the upgrade: based on v2" "$DEFAULT_BASE" "$V2"
      if has_word "$DEFAULT_PACKAGES" chrony; then pass "and layers chrony"; else fail "initramfs --enable dropped chrony ($DEFAULT_PACKAGES)"; fi
    fi
  else
    fail "initramfs command missing"
  fi
  end
}

phase_upgraded() {
  begin 4b "booted v2 with chrony re-applied"
  if facts; then
    fact "the booted deployment is based on v2" "$BOOTED_BASE" "$V2"
    fact "its version is v2's" "$BOOTED_VERSION" "$V2_VERSION"
  else
    fail "status --json"
  fi
  expect "v2's content is there" grep -qx v2 /usr/share/apt-ostree-vmtest/image
  i=0
  while [ $i -lt 60 ] && ! systemctl is-active -q chrony; do sleep 2; i=$((i + 1)); done
  expect "chrony.service is active" systemctl is-active chrony
  expect "the appended karg is kept" grep -qw apt-ostree.test=1 /proc/cmdline
  end

  begin 3d "boots with the regenerated initramfs"
  if facts; then
    fact "the booted deployment has a regenerated initramfs" "$BOOTED_REGEN" true
    fact "and is still based on v2" "$BOOTED_BASE" "$V2"
  else
    fail "status --json"
  fi
  end

  begin 5a "usroverlay"
  if has_command usroverlay; then
    if aot "apt-ostree usroverlay" 600 usroverlay; then
      expect "touch /usr/x succeeds" touch /usr/x
      facts && fact "status says /usr is unlocked" "$BOOTED_UNLOCKED" development
    fi
  else
    fail "usroverlay command missing"
  fi
  end

  begin 5b "rollback"
  if facts; then
    echo "$ROLLBACK_DEPLOY" >"$STATE/rollback-target"
    echo "$BOOTED_DEPLOY" >"$STATE/unlocked-deployment"
    if aot "apt-ostree rollback" 600 rollback && facts; then
      fact "the previous deployment is the default again" "$DEFAULT_DEPLOY" "$(cat "$STATE/rollback-target")"
    fi
  else
    fail "status --json"
  fi
  end
}

phase_rolledback() {
  begin 5c "after the rollback and the reboot"
  if facts; then
    fact "the booted deployment is the previous one" "$BOOTED_DEPLOY" "$(cat "$STATE/rollback-target")"
  else
    fail "status --json"
  fi
  if touch /usr/x 2>/dev/null; then fail "/usr is writable after the reboot"; else pass "/usr is read-only again"; fi
  unlocked=$(cat "$STATE/unlocked-deployment")
  if [ -e "/ostree/deploy/debian/deploy/$unlocked/usr/x" ]; then
    fail "/usr/x went into deployment $unlocked"
  else
    pass "/usr/x did not reach the deployment that was unlocked"
  fi
  end

  begin 7 "apply-live of an added package"
  if has_command apply-live; then
    if aot "apt-ostree install tree" 1200 install tree; then
      aot "apt-ostree apply-live" 1200 apply-live
      expect "tree --version works without a reboot" tree --version
    fi
  else
    fail "apply-live command missing"
  fi
  end

  begin 8a "automatic update: policy stage, through the timer's service"
  sed -i 's/^AutomaticUpdatePolicy=.*/AutomaticUpdatePolicy=stage/' /etc/apt-ostreed.conf
  aot "apt-ostree reload" 120 reload
  if run 1800 systemctl start apt-ostreed-automatic.service; then pass "apt-ostreed-automatic.service ran"; else fail "apt-ostreed-automatic.service failed"; fi
  run 30 sh -c 'journalctl -b -o cat --no-pager -u apt-ostreed-automatic.service | tail -n 20'
  if facts; then
    fact "the new default deployment is staged" "$DEFAULT_STAGED" true
    fact "it is based on v2" "$DEFAULT_BASE" "$V2"
    if has_word "$DEFAULT_PACKAGES" tree && has_word "$DEFAULT_PACKAGES" chrony; then
      pass "it stacks on the pending deployment: chrony and tree"
    else
      fail "the staged deployment's packages: $DEFAULT_PACKAGES"
    fi
  else
    fail "status --json"
  fi
  end
}

phase_staged() {
  begin 8b "the staged update was finalized at shutdown"
  if facts; then
    fact "the booted deployment is based on v2" "$BOOTED_BASE" "$V2"
    if has_word "$BOOTED_PACKAGES" tree && has_word "$BOOTED_PACKAGES" chrony; then
      pass "it layers chrony and tree"
    else
      fail "booted packages: $BOOTED_PACKAGES"
    fi
    fact "it is no longer staged" "$BOOTED_STAGED" false
  else
    fail "status --json"
  fi
  expect "tree --version works" tree --version
  end
}

echo "VMTEST phase $PHASE"
systemd-analyze time
systemd-analyze blame --no-pager | grep -v "\.device$" | head -n 8
case $PHASE in
  base) phase_base ;;
  layered) phase_layered ;;
  upgraded) phase_upgraded ;;
  rolledback) phase_rolledback ;;
  staged) phase_staged ;;
  *) begin "$PHASE" "unknown phase"; fail "no phase '$PHASE' in run.sh"; end ;;
esac
echo "VMTEST done $PHASE"
