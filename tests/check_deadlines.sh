#!/bin/sh
# check_deadlines.sh — the public headers follow the deadline rule
# (include/corio.h, "Conventions"):
#   1. a public function that takes a deadline (an int64_t parameter whose
#      name contains "deadline") takes it as its LAST parameter,
#   2. and its name ends in _until;
#   3. every NAME_until has its plain twin NAME, and does take a deadline.
# corio_timeout_begin and corio_timeout_reschedule are the exceptions: they
# open or move a deadline scope and never block, so they have no _until
# name. (corio_call_at takes a time, `when`, not a deadline: it never
# blocks either.)
#
#   tests/check_deadlines.sh [HEADER...]   (default: include/corio*.h)
#   tests/check_deadlines.sh --self-test   proves the check can fail
#
# Run by `make test`. Prints each violation and exits 1 if there is one.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)

check() {
    perl -e '
        my %exempt = (corio_timeout_begin => 1, corio_timeout_reschedule => 1);
        local $/;
        my $text = join "", map { open my $f, "<", $_ or die "$_: $!\n"; <$f> } @ARGV;
        $text =~ s{/\*.*?\*/}{ }gs;          # comments
        $text =~ s{//[^\n]*}{}g;
        # C++ wrappers: extern "C" { ... } would hide the whole header.
        $text =~ s{^\s*#\s*ifdef\s+__cplusplus\b.*?^\s*#\s*endif[^\n]*}{}msg;
        $text =~ s{^\s*#[^\n]*(?:\\\n[^\n]*)*}{}mg;   # preprocessor lines
        1 while $text =~ s/\{[^{}]*\}/;/g;   # bodies: structs, enums, inline functions
        my (%decl, @bad);
        for my $d (split /;/, $text) {
            $d =~ s/\s+/ /g;
            # A function: NAME(params) at the end, NAME public (not corio__).
            next unless $d =~ /\b(corio_(?!_)\w+)\s*\(([^()]*)\)\s*$/;
            my ($name, $params) = ($1, $2);
            my @p = map { s/^\s+|\s+$//gr } split /,/, $params;
            $decl{$name} = [@p];
        }
        for my $name (sort keys %decl) {
            my @p = @{ $decl{$name} };
            my @dl = grep { $p[$_] =~ /\bint64_t\s+\w*deadline\w*$/ } 0 .. $#p;
            my $until = $name =~ /_until$/;
            if (@dl && !$exempt{$name}) {
                push @bad, "$name: the deadline is not its last parameter"
                    if $dl[-1] != $#p || @dl > 1;
                push @bad, "$name: takes a deadline but its name does not end in _until"
                    unless $until;
            }
            if ($until) {
                push @bad, "$name: an _until function without a deadline last"
                    unless @dl && $dl[-1] == $#p;
                (my $plain = $name) =~ s/_until$//;
                push @bad, "$name: no plain twin $plain() in the public header"
                    unless exists $decl{$plain};
            }
        }
        print "check_deadlines: $_\n" for @bad;
        printf "check_deadlines: %d public functions, %s\n", scalar(keys %decl),
            @bad ? scalar(@bad) . " violation(s) of the deadline rule" : "all follow the deadline rule";
        exit(@bad ? 1 : 0);
    ' "$@"
}

if [ "${1:-}" = "--self-test" ]; then
    # Each of these must be caught; a good header must pass.
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    fails=0
    expect() { # expect pass|fail TEXT
        printf '%s\n' "$2" > "$work/h.h"
        if check "$work/h.h" >"$work/out" 2>&1; then got=pass; else got=fail; fi
        if [ "$got" != "$1" ]; then
            echo "check_deadlines --self-test: expected $1, got $got for: $2"
            cat "$work/out"
            fails=1
        fi
    }
    expect pass 'int corio_x(int a); int corio_x_until(int a, int64_t deadline);'
    expect fail 'int corio_x(int a, int64_t deadline);'
    expect fail 'int corio_x(int a); int corio_x_until(int64_t deadline, int a);'
    expect fail 'int corio_x_until(int a, int64_t deadline);'
    expect fail 'int corio_x(int a); int corio_x_until(int a);'
    expect fail 'int corio_x(int a); int corio_x_until(int a, int64_t deadline, int64_t d2_deadline);'
    expect pass 'static inline int corio_y(int a) { return corio_y_until(a, 1); } int corio_y_until(int a, int64_t deadline);'
    expect fail '#ifdef __cplusplus
extern "C" {
#endif
int corio_x(int a, int64_t deadline);
#ifdef __cplusplus
}
#endif'
    expect pass '/* int corio_z(int64_t deadline, int a); */ int corio__internal(int64_t deadline, int a);'
    [ $fails = 0 ] && echo "check_deadlines --self-test: every violation caught"
    exit $fails
fi

if [ $# = 0 ]; then set -- "$here"/include/corio*.h; fi
check "$@"
