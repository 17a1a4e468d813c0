/*
 * scenarios.h — what the fault driver runs, each as the main task of a
 * fresh loop. A scenario checks its data end to end: *bad says a byte was
 * lost, duplicated or changed. A call that fails is recorded (the first
 * one is the run's outcome) and the scenario winds down cleanly.
 */
#ifndef CORIO_TESTS_FAULT_SCENARIOS_H
#define CORIO_TESTS_FAULT_SCENARIOS_H

#include <corio.h>

typedef struct scen {
    int64_t deadline;   /* for every call of the run */
    int first_err;      /* the first CORIO_E* a call returned, or 0 */
    char where[48];     /* ... and which call */
    int first_os;       /* corio_last_os_error() right after it */
    int errors;         /* how many calls failed */
    int bad;            /* the data came out wrong */
    char msg[160];
} scen;

typedef struct scenario {
    const char *name;
    corio_fn main;      /* main(scen *) */
} scenario;

extern const scenario scenarios[];
extern const int nscenarios;

#endif
