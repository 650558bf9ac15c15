# Sourced by the scripts that check an installed WaveOS step by step (the real-systemd and package tests):
# say prints a line, ok and bad print one check's outcome and count it in $pass and $fail.
pass=0
fail=0
say() { printf '%s\n' "$*"; }
ok() { say "ok   $*"; pass=$((pass + 1)); }
bad() { say "FAIL $*"; fail=$((fail + 1)); }
