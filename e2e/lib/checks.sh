# shellcheck shell=bash
# The checks (issue 7's five and issue 13's register traffic), read from one normalized transcript: the L1
# console, which carries the VMM's output, which carries the L2 console.
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
# line_no PATTERN: its line number (0 when absent).
line_no() { local n; n=$(grep -anE -m 1 -- "$1" "$log" | cut -d: -f1); echo "${n:-0}"; }
# report_count LIST NAME: N from the exit report's LIST=NAME:N,...
report_count() {
  local list
  list=$(field "$(first '^fwcall-report ')" "$1")
  tr ',' '\n' <<<"$list" | awk -F: -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'
}
# stolen_ns VCPU: fwcall's stolen time for that vCPU from the exit report.
stolen_ns() { field "$(first '^fwcall-report ')" stolen_ns | cut -d, -f$(($1 + 1)); }

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
  if grep -aqE '(BUG:|Oops|Kernel panic|LOCKUP|soft lockup|Call trace:)' "$log"; then
    ok=0
    detail="$detail guest kernel: $(grep -aE -m 1 '(BUG:|Oops|Kernel panic|LOCKUP|soft lockup|Call trace:)' "$log");"
  fi
  if [ -z "$(first '^fwcall-report ')" ] || [ -z "$(first '^E2E-L1 vmm-exit rc=0$')" ]; then
    ok=0 detail="$detail the VMM did not end cleanly after SYSTEM_OFF ($(first '^E2E-L1 vmm-exit'));"
  fi
  # The VMM counts every SDEI call it answered with a negative result (and
  # logs each): a missing count proves nothing, so it fails the check.
  errors=$(field "$(first '^fwcall-report ')" sdei_errors)
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
# average KVM_GET_ONE_REG/KVM_SET_ONE_REG per served call and the total.
check_register_traffic() {
  local r served deliveries get set regs cr cw budget runs per_call total
  r=$(first '^fwcall-report ')
  served=$(field "$r" served)
  deliveries=$(field "$r" deliveries)
  get=$(field "$r" get_one_reg)
  set=$(field "$r" set_one_reg)
  regs=$(field "$r" call_regs)
  budget=$(field "$r" call_budget)
  runs=$(field "$r" completion_runs)
  if [ -z "$served" ] || [ -z "$get" ] || [ -z "$set" ] || [ -z "$regs" ] || [ -z "$budget" ]; then
    verdict 0 register-traffic "the VMM's report has no register counts: '$r'"
    return
  fi
  if [ "$served" -eq 0 ]; then
    verdict 0 register-traffic "no call was served, so nothing was measured"
    return
  fi
  cr=${regs%/*}
  cw=${regs#*/}
  total=$((get + set))
  per_call=$(awk -v a="$((cr + cw))" -v n="$served" 'BEGIN { printf "%.2f", a / n }')
  local detail="$served calls served with $cr GET_ONE_REG + $cw SET_ONE_REG ($per_call per call, budget $(awk -v a="$budget" -v n="$served" 'BEGIN { printf "%.2f", a / n }')); $deliveries deliveries; total $get GET_ONE_REG + $set SET_ONE_REG = $total ($(awk -v a="$total" -v n="$served" 'BEGIN { printf "%.2f", a / n }') per served call); ${runs:-0} completion runs"
  if [ $((cr + cw)) -gt "$budget" ]; then
    verdict 0 register-traffic "over budget: $detail"
  else
    verdict 1 register-traffic "$detail"
  fi
}

# run_checks NORMALIZED_LOG (a check that trips over a missing line fails
# itself, never the run: errexit is off in here)
run_checks() {
  log=$1
  set +e
  check_sdei_detected
  check_pv_steal
  check_sdei_delivery
  check_hotplug_shutdown
  check_snapshot
  check_register_traffic
  set -e
}
