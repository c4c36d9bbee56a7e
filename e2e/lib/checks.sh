# shellcheck shell=bash
# The checks of issues 7, 13 (register traffic) and 16 (migration), read
# from one normalized transcript: the L1 console, which carries the VMM's
# output, which carries the L2 console. The guest runs under several VMM
# processes in turn (it migrates), each printing its own fwcall-report:
# counts are summed over them, fwcall's stolen time (which travels with the
# guest) is read from the last one.
# Guest lines start with E2E-, the VMM's with fwcall- (VMM-INTERFACE.md).
# Each check prints one PASS/FAIL line; the caller counts them.

# shellcheck disable=SC2034 # read by the scripts that source this
passed=0
failed=0
verdict() { # verdict OK NAME DETAIL
  local detail=$3
  detail=${detail# }
  detail=${detail%;}
  if [ "$1" = 1 ]; then
    printf 'PASS %s: %s\n' "$2" "$detail"
    passed=$((passed + 1))
  else
    printf 'FAIL %s: %s\n' "$2" "$detail"
    failed=$((failed + 1))
  fi
}

# normalize RAW OUT: strip carriage returns and kernel timestamps.
normalize() {
  tr -d '\r' <"$1" | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //' >"$2"
}

# field LINE KEY: the value of KEY=value in LINE.
field() { sed -nE "s/.*(^| )$2=([^ ]*).*/\\2/p" <<<"$1" | head -n 1; }
# first PATTERN: the first transcript line matching the extended regex.
first() { grep -aE -m 1 -- "$1" "$log" || true; }
# last PATTERN: the last one.
last() { { grep -aE -- "$1" "$log" || true; } | tail -n 1; }
# nth N PATTERN: the Nth one.
nth() { { grep -aE -- "$2" "$log" || true; } | sed -n "$1p"; }
# line_no PATTERN: its line number (0 when absent).
line_no() { local n; n=$(grep -anE -m 1 -- "$1" "$log" | cut -d: -f1); echo "${n:-0}"; }
# report_count LIST NAME: N from the exit reports' LIST=NAME:N,..., summed
# over every VMM process the guest ran under.
report_count() {
  { grep -aE '^fwcall-report ' "$log" || true; } | while IFS= read -r r; do
    field "$r" "$1" | tr ',' '\n'
  done | awk -F: -v n="$2" '$1 == n { s += $2 } END { print s + 0 }'
}
# report_sum KEY: KEY=N of the exit reports, summed ("" when there is none
# or one lacks it).
report_sum() {
  local r v total=0 any=0
  while IFS= read -r r; do
    v=$(field "$r" "$1")
    [ -n "$v" ] || { echo; return; }
    total=$((total + v))
    any=1
  done < <(grep -aE '^fwcall-report ' "$log" || true)
  [ "$any" = 1 ] && echo "$total"
}
# report_pair_sum KEY I: the Ith number of KEY=A/B in the exit reports,
# summed ("" when there is none or one lacks it).
report_pair_sum() {
  local r v total=0 any=0
  while IFS= read -r r; do
    v=$(field "$r" "$1" | cut -d/ -f"$2")
    [ -n "$v" ] || { echo; return; }
    total=$((total + v))
    any=1
  done < <(grep -aE '^fwcall-report ' "$log" || true)
  [ "$any" = 1 ] && echo "$total"
}
# stolen_ns VCPU: fwcall's stolen time for that vCPU from the last report.
stolen_ns() { field "$(last '^fwcall-report ')" stolen_ns | cut -d, -f$(($1 + 1)); }
# clean_exit: the last VMM process ended cleanly after the guest's SYSTEM_OFF.
clean_exit() { [ -n "$(first '^fwcall-report ')" ] && [ -n "$(last '^E2E-L1 vmm-exit( leg=[0-9]+)? rc=0$')" ] && [ "$(last '^E2E-L1 vmm-exit')" = "$(last '^E2E-L1 vmm-exit( leg=[0-9]+)? rc=0$')" ]; }

# Check 1: Linux detected SDEI, with the version fwcall serves.
check_sdei_detected() {
  local seen served got want
  seen=$(first '^E2E-DMESG sdei: SDEIv[0-9]+\.[0-9]+ \(0x[0-9a-f]+\) detected')
  served=$(first '^fwcall-sdei-version [0-9]+\.[0-9]+ vendor=0x[0-9a-f]+')
  if [ -z "$seen" ]; then
    verdict 0 sdei-detected "the guest kernel did not report SDEI as detected"
    return
  fi
  got=$(sed -E 's/.*SDEIv([0-9]+)\.([0-9]+) \((0x[0-9a-f]+)\).*/\1.\2 \3/' <<<"$seen")
  if [ -z "$served" ]; then
    verdict 0 sdei-detected "guest saw SDEIv$got but the VMM did not state the version it serves"
    return
  fi
  want="$(cut -d' ' -f2 <<<"$served") $(field "$served" vendor)"
  if [ "$got" = "$want" ]; then
    verdict 1 sdei-detected "guest kernel detected SDEIv${got% *} (vendor ${got#* }), the version fwcall serves"
  else
    verdict 0 sdei-detected "guest detected '$got', fwcall serves '$want'"
  fi
}

# USER_HZ tick of /proc/stat, in ns.
tick_ns=10000000

# Check 2: stolen time PV in use, and each CPU's steal agrees with what
# fwcall accounted, to within one tick:
#  - at one instant (read on the CPU, IRQs masked) the kernel's accounted
#    steal trails fwcall's stolen-time record by less than a tick;
#  - when the VMM printed its own figure as it served that read's
#    PV_TIME_ST (fwcall-steal), the record is within a tick of it;
#  - the /proc/stat column, read just after, lies between that instant's
#    figure and fwcall's total at exit (the VMM keeps accounting through
#    the shutdown; that tail is shown, not judged).
check_pv_steal() {
  local final exact cpu ticks k r ns at_req ok=1 detail="" total=0 exact_line req_line
  if [ -z "$(first '^E2E-DMESG arm-pv: using stolen time PV')" ]; then
    verdict 0 pv-steal "the guest kernel did not say 'arm-pv: using stolen time PV'"
    return
  fi
  final=$(first '^E2E-STEAL when=final ')
  if [ -z "$final" ]; then
    verdict 0 pv-steal "the guest never printed its final /proc/stat steal"
    return
  fi
  for cpu in 0 1; do
    ticks=$(field "$final" "cpu$cpu")
    exact=$(first "^E2E-STEAL-EXACT cpu=$cpu err=0 ")
    ns=$(stolen_ns "$cpu")
    if [ -z "$ticks" ] || [ -z "$exact" ] || [ -z "$ns" ]; then
      ok=0
      detail="$detail cpu$cpu: column '${ticks}', exact '$(first "^E2E-STEAL-EXACT cpu=$cpu ")', fwcall '${ns}';"
      continue
    fi
    k=$(field "$exact" kernel_ns)
    r=$(field "$exact" record_ns)
    total=$((total + ticks))
    if [ "$k" -gt "$r" ] || [ $((r - k)) -ge "$tick_ns" ]; then ok=0; fi
    if [ "$ticks" -lt $((k / tick_ns)) ] || [ "$ticks" -gt $((ns / tick_ns)) ]; then ok=0; fi
    if [ "$ns" -lt "$r" ]; then ok=0; fi
    detail="$detail cpu$cpu: kernel $((k / 1000)) us, fwcall record $((r / 1000)) us"
    # The VMM's own figure, printed while serving the PV_TIME_ST of that read.
    exact_line=$(line_no "^E2E-STEAL-EXACT cpu=$cpu ")
    req_line=$(head -n "$exact_line" "$log" | grep -anE "^fwcall-steal vcpu=$cpu " | tail -n 1)
    if [ -n "$req_line" ]; then
      at_req=$(field "${req_line#*:}" stolen-ns)
      if [ $((r - at_req)) -ge "$tick_ns" ] || [ $((at_req - r)) -ge "$tick_ns" ]; then ok=0; fi
      detail="$detail, VMM then $((at_req / 1000)) us"
    fi
    detail="$detail, column ${ticks} ticks, fwcall at exit $((ns / 1000)) us;"
  done
  if [ "$ok" = 1 ] && [ "$total" -eq 0 ]; then
    ok=0
    detail="$detail no steal at all, so nothing was compared;"
  fi
  verdict "$ok" pv-steal "stolen time PV in use;$detail"
}

# suite_ok RUN: the module's delivery suite RUN ran and every test passed.
suite_ok() {
  local n_ok
  n_ok=$(grep -acE "^E2E-SDEI-TEST run=$1 .*result=ok" "$log" || true)
  [ -n "$(first "^E2E-SDEI-SUITE run=$1 failures=0$")" ] && [ "$n_ok" -ge 8 ]
}
suite_failures() { { grep -aE "^E2E-SDEI-TEST run=$1 .*result=FAIL" "$log" || true; } | sed 's/^E2E-SDEI-TEST //' | tr '\n' ';'; }

# Check 3: SDEI event 0 delivered to the stock driver's handler, by the VMM
# and by SDEI_EVENT_SIGNAL across CPUs, with IRQs masked and unmasked;
# handler counts match the VMM's deliveries and COMPLETE /
# COMPLETE_AND_RESUME counts (the VMM counts per call, not per vCPU).
check_sdei_delivery() {
  local ok=1 detail cpu g gh=0 gc=0 gr=0 vh vc vr
  if [ -z "$(first '^E2E-SDEI-REGISTER ret=0$')" ] || [ -z "$(first '^E2E-SDEI-ENABLE ret=0$')" ]; then
    verdict 0 sdei-delivery "event 0 was not registered and enabled: $(first '^E2E-SDEI-(REGISTER|ENABLE)')"
    return
  fi
  if ! suite_ok load; then
    verdict 0 sdei-delivery "delivery suite failed: $(suite_failures load)"
    return
  fi
  detail="8/8 delivery tests;"
  for cpu in 0 1; do
    g=$(first "^E2E-SDEI-COUNTS when=final cpu=$cpu ")
    if [ -z "$g" ]; then
      verdict 0 sdei-delivery "$detail the guest's final counts for cpu$cpu are missing"
      return
    fi
    gh=$((gh + $(field "$g" handled)))
    gc=$((gc + $(field "$g" complete)))
    gr=$((gr + $(field "$g" resume)))
  done
  if [ -z "$(first '^fwcall-report ')" ]; then
    verdict 0 sdei-delivery "$detail the VMM printed no fwcall-report"
    return
  fi
  vh=$(report_count events 0x0)
  vc=$(report_count calls SDEI_EVENT_COMPLETE)
  vr=$(report_count calls SDEI_EVENT_COMPLETE_AND_RESUME)
  [ "$gh" = "$vh" ] && [ "$gc" = "$vc" ] && [ "$gr" = "$vr" ] || ok=0
  if [ "$gc" -eq 0 ] || [ "$gr" -eq 0 ]; then
    ok=0
    detail="$detail COMPLETE and COMPLETE_AND_RESUME must both be exercised;"
  fi
  detail="$detail handled/COMPLETE/COMPLETE_AND_RESUME guest $gh/$gc/$gr, VMM $vh/$vc/$vr;"
  verdict "$ok" sdei-delivery "$detail"
}

# What the guest kernel logs when something went wrong: oopses, lockups,
# RCU stalls, hung tasks.
kernel_trouble='(BUG:|Oops|Kernel panic|LOCKUP|soft lockup|Call trace:|rcu_.*stall|detected stalls|self-detected stall|blocked for more than)'

# Check 4: CPU1 offline and online, and the shutdown, with every SDEI call
# answered without error.
check_hotplug_shutdown() {
  local ok=1 detail="" errors taint
  [ -n "$(first '^E2E-HOTPLUG op=offline rc=0 online=0$')" ] || { ok=0; detail="$detail cpu1 offline failed: $(first '^E2E-HOTPLUG op=offline');"; }
  [ -n "$(first '^E2E-HOTPLUG op=online rc=0 online=0-1$')" ] || { ok=0; detail="$detail cpu1 online failed: $(first '^E2E-HOTPLUG op=online');"; }
  suite_ok after-hotplug || { ok=0; detail="$detail delivery after hotplug failed: $(suite_failures after-hotplug);"; }
  [ -n "$(first '^E2E-L2-POWEROFF')" ] || { ok=0; detail="$detail the guest never reached poweroff;"; }
  # Kernel taint: W (512, a WARN), D (128, an oops), L (16384, soft lockup).
  taint=$(field "$(first '^E2E-TAINT ')" value)
  if [ -z "$taint" ] || [ $((taint & (128 | 512 | 16384))) -ne 0 ]; then
    ok=0
    detail="$detail guest kernel taint '$taint' (W/D/L);"
  fi
  if grep -aqE "$kernel_trouble" "$log"; then
    ok=0
    detail="$detail guest kernel: $(grep -aE -m 1 "$kernel_trouble" "$log");"
  fi
  if ! clean_exit; then
    ok=0 detail="$detail the VMM did not end cleanly after SYSTEM_OFF ($(last '^E2E-L1 vmm-exit'));"
  fi
  # The VMM counts every SDEI call it answered with a negative result (and
  # logs each): a missing count proves nothing, so it fails the check.
  errors=$(report_sum sdei_errors)
  if [ -z "$errors" ]; then
    ok=0
    detail="$detail the VMM's report has no sdei_errors count;"
  elif [ "$errors" != 0 ]; then
    ok=0
    detail="$detail $errors SDEI calls failed, first: $(first '^fwcall-sdei-error ');"
  fi
  [ "$ok" = 1 ] && detail=" cpu1 offline+online, delivery again on both CPUs, guest powered off untainted, no SDEI call answered with an error;"
  verdict "$ok" hotplug-shutdown "$detail"
}

steal_sum() { # steal_sum WHEN: total steal ticks of that guest reading
  local l
  l=$(first "^E2E-STEAL when=$1 ")
  [ -n "$l" ] || { echo -1; return; }
  echo $(($(field "$l" cpu0) + $(field "$l" cpu1)))
}

# Check 5: a live snapshot mid-run, taken while CPU1 is inside a handler
# the module holds open; the held handler then completes against the
# restored fwcall, the delivery suite passes again and steal keeps counting.
check_snapshot() {
  local ok=1 detail="" held restored released post pre after snap
  held=$(line_no '^E2E-SDEI-HOLD when=before-snapshot state=holding$')
  # Either spelling: the contract's, or refvmm's own log line.
  restored=$(line_no '^(fwcall-snapshot bytes=[0-9]+|fwcall-refvmm: fwcall snapshot: [0-9]+ bytes.*restored)')
  released=$(line_no '^E2E-SDEI-HOLD when=after-snapshot state=released$')
  post=$(line_no '^E2E-STEAL when=post-snapshot ')
  if [ "$restored" = 0 ]; then
    verdict 0 snapshot "the VMM did not report a snapshot and restore ($(first '^fwcall-refvmm: snapshot'))"
    return
  fi
  snap=$(first '^(fwcall-snapshot |fwcall-refvmm: fwcall snapshot: )' | sed -E 's/.*fwcall snapshot: ([0-9]+) bytes.*/bytes=\1/')
  if [ "$held" = 0 ] || [ "$released" = 0 ]; then
    ok=0
    detail="$detail the held handler: '$(first '^E2E-SDEI-HOLD when=before')', '$(first '^E2E-SDEI-HOLD when=after')';"
  elif [ "$restored" -lt "$held" ] || [ "$restored" -gt "$released" ]; then
    ok=0
    detail="$detail the snapshot (line $restored) was not taken while CPU1's handler was held (lines $held..$released);"
  fi
  [ "$post" -gt "$restored" ] || { ok=0; detail="$detail no guest reading after the restore;"; }
  suite_ok after-snapshot || { ok=0; detail="$detail delivery after the snapshot failed: $(suite_failures after-snapshot);"; }
  pre=$(steal_sum pre-snapshot)
  after=$(steal_sum after-suite)
  [ "$after" -gt "$pre" ] || { ok=0; detail="$detail steal did not grow after the snapshot ($pre -> $after ticks);"; }
  [ "$ok" = 1 ] && detail=" $(field "$snap" bytes)-byte blob taken while CPU1 was inside a held handler, which completed against the restored fwcall; delivery suite passes again; steal $pre -> $after ticks;"
  verdict "$ok" snapshot "$detail"
}

# Check 6: the KVM adapter's register traffic. Every forwarded call is
# served within its register budget (the argument registers the function
# takes plus the registers its reply may write), and the line reports the
# average KVM_GET_ONE_REG/KVM_SET_ONE_REG per served call and the total,
# summed over every VMM process the guest ran under.
check_register_traffic() {
  local served deliveries get set cr cw budget runs per_call total
  served=$(report_sum served)
  deliveries=$(report_sum deliveries)
  get=$(report_sum get_one_reg)
  set=$(report_sum set_one_reg)
  budget=$(report_sum call_budget)
  runs=$(report_sum completion_runs)
  cr=$(report_pair_sum call_regs 1)
  cw=$(report_pair_sum call_regs 2)
  if [ -z "$served" ] || [ -z "$get" ] || [ -z "$set" ] || [ -z "$cr" ] || [ -z "$cw" ] || [ -z "$budget" ]; then
    verdict 0 register-traffic "a VMM's report has no register counts: '$(first '^fwcall-report ' | cut -c1-120)'"
    return
  fi
  if [ "$served" -eq 0 ]; then
    verdict 0 register-traffic "no call was served, so nothing was measured"
    return
  fi
  total=$((get + set))
  per_call=$(awk -v a="$((cr + cw))" -v n="$served" 'BEGIN { printf "%.2f", a / n }')
  local detail="$served calls served with $cr GET_ONE_REG + $cw SET_ONE_REG ($per_call per call, budget $(awk -v a="$budget" -v n="$served" 'BEGIN { printf "%.2f", a / n }')); $deliveries deliveries; total $get GET_ONE_REG + $set SET_ONE_REG = $total ($(awk -v a="$total" -v n="$served" 'BEGIN { printf "%.2f", a / n }') per served call); ${runs:-0} completion runs"
  if [ $((cr + cw)) -gt "$budget" ]; then
    verdict 0 register-traffic "over budget: $detail"
  else
    verdict 1 register-traffic "$detail"
  fi
}

# migrate_numbers LABEL N POLICY: for the Nth migration (labelled LABEL in
# the guest, counter policy POLICY on the destination), sets
#   saved restored  the VMM lines (fwcall-migrate-saved/-restored)
#   clock           the guest's E2E-CLOCK line: the gap between two of the
#                   held handler's counter samples that spans the pause and
#                   the resume (located with the counts the VMM reports to
#                   the guest), the backward steps, the timer deadline
migrate_numbers() {
  local label=$1 n=$2 policy=$3
  saved=$(nth "$n" '^fwcall-migrate-saved ')
  restored=$(first "^fwcall-migrate-restored dir=$(field "$saved" dir) policy=$policy ")
  clock=$(first "^E2E-CLOCK when=$label ")
}

# Checks migrate (one per policy): while CPU1 holds an SDEI handler open
# and a timer deadline is pending on CPU0, VMM A saves the guest and exits
# and VMM B, a new process, restores it. Then the held handler completes on
# B, delivery works on every CPU, fwcall's stolen time continues from where
# it was, CLOCK_MONOTONIC and the counter never step back, the guest's
# counter jumped across the blackout by what the policy says (pause: less
# than one 10 ms tick, or, where the host itself is slow to stop and start
# the vCPUs, under 5% of the blackout; realtime: the blackout within 10%),
# the deadline fired on time in guest time, the kernel logged no lockup or
# stall, and the guest powered off cleanly.
check_migrate() { # check_migrate LABEL N POLICY
  local label=$1 n=$2 policy=$3 ok=1 detail="" held released at_saved at_restored
  local g0 g1 jump freq blackout jump_ns lo hi pre post cpu p q grew=0 mono mono_before mono_after
  local deadline fired start sdown rdown other_ns note=""
  migrate_numbers "$label" "$n" "$policy"
  if [ -z "$saved" ] || [ -z "$restored" ]; then
    verdict 0 "migrate-$policy" "no save and restore for migration $n ('${saved:0:80}', '${restored:0:80}')"
    return
  fi
  held=$(line_no "^E2E-SDEI-HOLD when=before-$label state=holding$")
  released=$(line_no "^E2E-SDEI-HOLD when=after-$label state=released$")
  at_saved=$(grep -anE '^fwcall-migrate-saved ' "$log" | sed -n "${n}p" | cut -d: -f1)
  at_restored=$(line_no "^fwcall-migrate-restored dir=$(field "$saved" dir) policy=$policy ")
  if [ "$held" = 0 ] || [ "$released" = 0 ]; then
    ok=0
    detail="$detail the held handler: '$(first "^E2E-SDEI-HOLD when=before-$label")', '$(first "^E2E-SDEI-HOLD when=after-$label")';"
  elif [ "$at_saved" -lt "$held" ] || [ "$at_restored" -gt "$released" ] || [ "$at_saved" -gt "$at_restored" ]; then
    ok=0
    detail="$detail the move (lines $at_saved..$at_restored) did not happen while CPU1's handler was held (lines $held..$released);"
  fi
  suite_ok "after-$label" || { ok=0; detail="$detail delivery after the move failed: $(suite_failures "after-$label");"; }
  pre=$(field "$(first "^E2E-MONO when=pre-$label ")" ns)
  post=$(field "$(first "^E2E-MONO when=post-$label ")" ns)
  if [ -z "$pre" ] || [ -z "$post" ] || [ "$post" -le "$pre" ]; then
    ok=0
    detail="$detail CLOCK_MONOTONIC '$pre' -> '$post';"
  fi
  g0=$(field "$clock" g0)
  g1=$(field "$clock" g1)
  jump=$(field "$clock" jump)
  freq=$(field "$clock" freq)
  mono=$(field "$clock" mono)
  mono_before=${mono%-*}
  mono_after=${mono#*-}
  blackout=$(field "$restored" blackout-ns)
  if [ "$(field "$clock" back)" != 0/0 ]; then
    ok=0
    detail="$detail the counter or CLOCK_MONOTONIC stepped back (counter/monotonic: '$(field "$clock" back)');"
  fi
  if [ -z "$g0" ] || [ $((g0)) != $(($(field "$saved" guest-count))) ] || [ $((g1)) != $(($(field "$restored" guest-count))) ]; then
    ok=0
    detail="$detail the guest was told the counter paused at '$g0' and resumed at '$g1', the VMMs say $(field "$saved" guest-count) and $(field "$restored" guest-count);"
  elif [ -z "$jump" ] || [ "$jump" -lt 0 ] || [ -z "$freq" ] || [ "$freq" = 0 ]; then
    ok=0
    detail="$detail no counter gap of the held handler spans the pause ($g0) and the resume ($g1);"
  else
    jump_ns=$((jump * 1000000000 / freq))
    if [ "$policy" = pause ]; then
      # Less than a tick. The jump the guest sees also holds the time
      # its vCPUs took to stop on A and to enter the guest on B, which on
      # real hardware is microseconds but under nested TCG on a shared host
      # can reach tens of ms (a vCPU thread waiting for a CPU): then the
      # blackout still counts as excluded when the jump stays under 5% of
      # it (realtime gives 100% +-10%), and the line says how much it was.
      other_ns=$(($(field "$clock" other) * 1000000000 / freq))
      if [ "$jump_ns" -lt "$tick_ns" ]; then
        :
      elif [ "$jump_ns" -lt $((blackout / 20)) ]; then
        note=" (more than a tick: the vCPUs' stop and first entry on this loaded nested host; the host's largest other stall of the guest in the hold was $((other_ns / 1000)) us)"
      else
        ok=0
        detail="$detail the counter jumped $((jump_ns / 1000)) us across a $((blackout / 1000)) us blackout: not less than a tick, nor under 5% of the blackout;"
      fi
    else
      lo=$((blackout - blackout / 10))
      hi=$((blackout + blackout / 10))
      [ "$jump_ns" -ge "$lo" ] && [ "$jump_ns" -le "$hi" ] || { ok=0; detail="$detail the counter jumped $((jump_ns / 1000)) us for a $((blackout / 1000)) us blackout;"; }
    fi
    # The deadline: pending at the pause, fired once guest time reached it.
    deadline=$(field "$clock" deadline)
    fired=$(field "$clock" fired)
    if [ -z "$deadline" ] || [ "$deadline" = 0 ] || [ -z "$fired" ]; then
      ok=0
      detail="$detail the timer deadline did not fire: '$clock';"
    else
      start=$deadline
      [ "$mono_after" -gt "$start" ] && start=$mono_after
      if [ "$fired" -le "$mono_before" ]; then
        ok=0
        detail="$detail the deadline fired before the move, so none was pending across it;"
      elif [ "$fired" -lt "$deadline" ] || [ $((fired - start)) -ge 100000000 ]; then
        ok=0
        detail="$detail the deadline fired $(((fired - deadline) / 1000)) us after it was due;"
      fi
    fi
  fi
  # fwcall's stolen-time records: never back, and growing under load.
  for cpu in 0 1; do
    p=$(field "$(first "^E2E-STEAL-RECORD when=pre-$label ")" "cpu$cpu")
    q=$(field "$(first "^E2E-STEAL-RECORD when=post-$label ")" "cpu$cpu")
    if [ -z "$p" ] || [ -z "$q" ] || [ "$p" -lt 0 ] || [ "$q" -lt "$p" ]; then
      ok=0
      detail="$detail cpu$cpu stolen time '$p' -> '$q' ns;"
    elif [ "$q" -gt "$p" ]; then
      grew=1
    fi
  done
  [ "$grew" = 1 ] || { ok=0; detail="$detail stolen time did not grow after the move;"; }
  if grep -aqE "$kernel_trouble" "$log"; then
    ok=0
    detail="$detail guest kernel: $(grep -aE -m 1 "$kernel_trouble" "$log");"
  fi
  [ -n "$(first '^E2E-L2-POWEROFF')" ] && clean_exit || { ok=0; detail="$detail the guest did not power off cleanly;"; }
  if [ "$ok" = 1 ]; then
    sdown=$(field "$saved" total-us)
    rdown=$(field "$restored" total-us)
    detail=" handler held on A completed on B, delivery again on both CPUs, clocks monotonic, counter moved $((jump_ns / 1000)) us over a $((blackout / 1000)) us blackout$note, deadline on time, steal continued; downtime pause->saved $((sdown / 1000)) ms (fwcall $(field "$saved" fwcall-share)), restore->run $((rdown / 1000)) ms (fwcall $(field "$restored" fwcall-share));"
  fi
  verdict "$ok" "migrate-$policy" "$detail"
}

# Check rollback: a destination started with less than the guest saw (an
# older SDEI version) refuses the saved image with one message naming what
# is missing and a non-zero exit, leaves the image as it was, and the next
# destination takes the same image (the guest continues: see
# migrate-realtime).
check_rollback() {
  local ok=1 detail="" attempt leg image start end window refusals rc before after taken
  attempt=$(first '^E2E-L1 rollback-attempt ')
  if [ -z "$attempt" ]; then
    verdict 0 rollback "no destination tried the image with less than the guest saw"
    return
  fi
  leg=$(field "$attempt" leg)
  image=$(field "$attempt" image)
  start=$(line_no "^E2E-L1 vmm-started leg=$leg( |$)")
  end=$(line_no "^E2E-L1 vmm-exit leg=$leg ")
  rc=$(field "$(first "^E2E-L1 vmm-exit leg=$leg ")" rc)
  if [ "$start" = 0 ] || [ "$end" = 0 ]; then
    verdict 0 rollback "leg $leg did not start and end"
    return
  fi
  window=$(sed -n "${start},${end}p" "$log")
  refusals=$(grep -ac '^fwcall-refvmm: refusing to restore' <<<"$window" || true)
  [ "$rc" != 0 ] || { ok=0; detail="$detail the destination exited 0;"; }
  [ "$refusals" = 1 ] || { ok=0; detail="$detail $refusals refusal messages, not one;"; }
  grep -aq "^fwcall-refvmm: refusing to restore $image: the destination offers less than the guest saw: snapshot exposes SDEI 1.1, destination serves SDEI up to 1.0" <<<"$window" ||
    { ok=0; detail="$detail the refusal does not name the SDEI version: '$(grep -a -m 1 '^fwcall-refvmm: ' <<<"$window" | cut -c1-160)';"; }
  ! grep -aqE '^(fwcall-migrate-restored|E2E-)' <<<"$(grep -av '^E2E-L1 ' <<<"$window")" ||
    { ok=0; detail="$detail the refusing destination ran the guest;"; }
  before=$(first "^E2E-L1 image-sum when=before leg=$leg " | cut -d' ' -f5-)
  after=$(first "^E2E-L1 image-sum when=after leg=$leg " | cut -d' ' -f5-)
  [ -n "$before" ] && [ "$before" = "$after" ] || { ok=0; detail="$detail the image changed: '$before' -> '$after';"; }
  taken=$(line_no "^fwcall-migrate-restored dir=$image ")
  [ "$taken" -gt "$end" ] || { ok=0; detail="$detail no destination took $image after the refusal;"; }
  [ "$ok" = 1 ] && detail=" destination with SDEI 1.0 refused (exit $rc) naming the SDEI version, image untouched, the next destination took it;"
  verdict "$ok" rollback "$detail"
}

# run_checks NORMALIZED_LOG (a check that trips over a missing line fails
# itself, never the run: errexit is off in here)
# cpu_count LIST: the number of CPUs in a sysfs CPU list ("0-1,3" -> 3).
cpu_count() {
  tr ',' '\n' <<<"$1" | awk -F- 'NF == 2 { n += $2 - $1 + 1; next } NF == 1 && $1 != "" { n++ } END { print n + 0 }'
}
# count_between FROM TO PATTERN: transcript lines matching PATTERN strictly
# between line numbers FROM and TO.
count_between() {
  grep -anE -- "$3" "$log" | awk -F: -v a="$1" -v b="$2" '$1 > a && $1 < b { n++ } END { print n + 0 }'
}
cpu_on_ok='^fwcall-psci vcpu=[0-9]+ call=PSCI_CPU_ON(_64)? target=[0-9]+ result=0$'

# Check psci-boot: the guest's secondaries came up through fwcall's CPU_ON
# (PSCI in userspace): the kernel found fwcall's PSCI, the VMM answered
# one successful CPU_ON per CPU beyond the boot CPU before the guest's
# init ran, and every successful CPU_ON of the run was applied to its
# target (the VMM's start count).
check_psci_boot() {
  local ok=1 detail="" up up_line online want ons starts all_ons psci
  up=$(first '^E2E-L2-UP kernel=')
  if [ -z "$up" ]; then
    verdict 0 psci-boot "the guest's init never ran"
    return
  fi
  up_line=$(line_no '^E2E-L2-UP kernel=')
  online=$(field "$up" online)
  want=$(($(cpu_count "$online") - 1))
  psci=$(first '^E2E-DMESG psci: PSCIv[0-9.]+ detected in firmware')
  [ -n "$psci" ] || { ok=0; detail="$detail the kernel did not report PSCI as detected;"; }
  ons=$(count_between 0 "$up_line" "$cpu_on_ok")
  if [ "$want" -lt 1 ]; then
    ok=0
    detail="$detail only CPUs $online came up;"
  elif [ "$ons" != "$want" ]; then
    ok=0
    detail="$detail $ons successful CPU_ON before init, but CPUs $online are online;"
  fi
  starts=$(report_sum starts)
  all_ons=$(grep -acE -- "$cpu_on_ok" "$log" || true)
  if [ -z "$starts" ]; then
    ok=0
    detail="$detail the VMM's report has no starts count;"
  elif [ "$starts" != "$all_ons" ]; then
    ok=0
    detail="$detail the VMM applied $starts starts for $all_ons successful CPU_ONs;"
  fi
  [ "$ok" = 1 ] && detail="${psci#E2E-DMESG psci: }; CPUs $online online at init after $ons CPU_ON served by fwcall; $starts starts applied for $all_ons CPU_ONs in the run"
  verdict "$ok" psci-boot "$detail"
}

# Check psci-hotplug: CPU1 goes offline through fwcall's CPU_OFF (the
# survivor polls AFFINITY_INFO), comes back through CPU_ON, and SDEI
# delivery works on it again.
check_psci_hotplug() {
  local ok=1 detail="" off_line on_line up_line offs ons aff parks
  up_line=$(line_no '^E2E-L2-UP kernel=')
  off_line=$(line_no '^E2E-HOTPLUG op=offline rc=0 online=0$')
  on_line=$(line_no '^E2E-HOTPLUG op=online rc=0 online=0-1$')
  if [ "$off_line" = 0 ] || [ "$on_line" = 0 ]; then
    verdict 0 psci-hotplug "cpu1 offline/online failed: $(first '^E2E-HOTPLUG op=offline') / $(first '^E2E-HOTPLUG op=online')"
    return
  fi
  offs=$(count_between "$up_line" "$off_line" '^fwcall-psci vcpu=1 call=PSCI_CPU_OFF ')
  [ "$offs" = 1 ] || { ok=0; detail="$detail $offs CPU_OFF from vCPU 1 while it went offline;"; }
  ons=$(count_between "$off_line" "$on_line" '^fwcall-psci vcpu=[0-9]+ call=PSCI_CPU_ON(_64)? target=1 result=0$')
  [ "$ons" = 1 ] || { ok=0; detail="$detail $ons successful CPU_ON of vCPU 1 while it came back;"; }
  aff=$(($(report_count calls PSCI_AFFINITY_INFO_64) + $(report_count calls PSCI_AFFINITY_INFO)))
  [ "$aff" -ge 1 ] || { ok=0; detail="$detail no AFFINITY_INFO call: the kernel did not wait for the CPU to be off;"; }
  parks=$(report_sum parks)
  [ -n "$parks" ] && [ "$parks" -ge 1 ] || { ok=0; detail="$detail the VMM parked no vCPU thread (parks='$parks');"; }
  suite_ok after-hotplug || { ok=0; detail="$detail delivery after hotplug failed: $(suite_failures after-hotplug);"; }
  [ "$ok" = 1 ] && detail="cpu1 offline by CPU_OFF ($aff AFFINITY_INFO calls, its thread parked), online by CPU_ON, SDEI delivery again on both CPUs"
  verdict "$ok" psci-hotplug "$detail"
}

# Check psci-reboot: the guest reboots through SYSTEM_RESET, the VMM boots
# it a second time to its init, SDEI is detected again, and the second boot
# powers off through SYSTEM_OFF.
check_psci_reboot() {
  local ok=1 detail="" req reset rebooting up2 sdei2 off reboots
  req=$(line_no '^E2E-L2-REBOOT ')
  [ "$req" != 0 ] || { verdict 0 psci-reboot "the guest never asked to reboot"; return; }
  reset=$(line_no '^fwcall-psci vcpu=[0-9]+ call=PSCI_SYSTEM_RESET(2|2_64)? ')
  rebooting=$(line_no '^fwcall-refvmm: guest reset: rebooting')
  up2=$(line_no '^E2E-L2-UP boot=2 ')
  sdei2=$(line_no '^E2E-BOOT2-DMESG sdei: SDEIv[0-9]+\.[0-9]+ \(0x[0-9a-f]+\) detected')
  off=$(line_no '^fwcall-psci vcpu=[0-9]+ call=PSCI_SYSTEM_OFF ')
  [ "$reset" -gt "$req" ] || { ok=0; detail="$detail no SYSTEM_RESET after the guest's reboot;"; }
  [ "$rebooting" -gt "$reset" ] || { ok=0; detail="$detail the VMM did not reboot the VM after SYSTEM_RESET;"; }
  [ "$up2" -gt "$rebooting" ] || { ok=0; detail="$detail the second boot never reached init;"; }
  [ "$sdei2" -gt "$rebooting" ] || { ok=0; detail="$detail SDEI was not detected in the second boot;"; }
  [ "$off" -gt "$up2" ] || { ok=0; detail="$detail no SYSTEM_OFF after the second boot;"; }
  reboots=$(report_sum reboots)
  [ "$reboots" = 1 ] || { ok=0; detail="$detail the VMM reports '$reboots' reboots;"; }
  clean_exit || { ok=0; detail="$detail the VMM did not end cleanly after SYSTEM_OFF ($(last '^E2E-L1 vmm-exit'));"; }
  [ "$ok" = 1 ] && detail="SYSTEM_RESET, the VMM rebooted the VM, second boot to init with CPUs $(field "$(first '^E2E-L2-UP boot=2 ')" online) and SDEI detected again, then SYSTEM_OFF"
  verdict "$ok" psci-reboot "$detail"
}

# Check trng: the stock SMCCC TRNG driver lists smccc_trng as a hardware
# RNG and /dev/hwrng gives bytes; the VMM served TRNG calls.
check_trng() {
  local ok=1 detail="" t hex rnd version
  t=$(first '^E2E-TRNG available=')
  [ -n "$(first '^E2E-TRNG insmod rc=0$')" ] || { ok=0; detail="$detail the TRNG module did not load: $(first '^E2E-TRNG insmod');"; }
  if [ -z "$t" ]; then
    verdict 0 trng "$detail the guest printed no TRNG line"
    return
  fi
  grep -qE '(^|,)smccc_trng(,|$)' <<<"$(field "$t" available)" || { ok=0; detail="$detail smccc_trng not among the hardware RNGs ($(field "$t" available));"; }
  [ "$(field "$t" current)" = smccc_trng ] || { ok=0; detail="$detail current RNG '$(field "$t" current)';"; }
  hex=$(field "$t" hex)
  [ "$(field "$t" bytes)" = 32 ] || { ok=0; detail="$detail read $(field "$t" bytes) of 32 bytes from /dev/hwrng;"; }
  grep -qE '[1-9a-f]' <<<"$hex" || { ok=0; detail="$detail /dev/hwrng gave only zeros;"; }
  rnd=$(report_count calls TRNG_RND64)
  version=$(report_count calls TRNG_VERSION)
  [ "$rnd" -ge 1 ] && [ "$version" -ge 1 ] || { ok=0; detail="$detail the VMM served $version TRNG_VERSION and $rnd TRNG_RND64 calls;"; }
  [ "$ok" = 1 ] && detail="smccc_trng is the current hwrng, 32 bytes read from /dev/hwrng; the VMM served $version TRNG_VERSION and $rnd TRNG_RND64 calls"
  verdict "$ok" trng "$detail"
}

run_checks() {
  log=$1
  set +e
  check_sdei_detected
  check_pv_steal
  check_sdei_delivery
  check_hotplug_shutdown
  check_snapshot
  check_register_traffic
  check_migrate m1 1 pause
  check_rollback
  check_migrate m2 2 realtime
  check_psci_boot
  check_psci_hotplug
  check_psci_reboot
  check_trng
  set -e
}
