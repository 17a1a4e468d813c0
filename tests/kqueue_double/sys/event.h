/*
 * ======================================================================
 *  TEST DOUBLE — NOT A KQUEUE IMPLEMENTATION.
 * ======================================================================
 *
 * sys/event.h for Linux, so that poller/kqueue.c can be compiled and run
 * on a machine with no BSD kernel. It declares the small part of the
 * FreeBSD kqueue(2) interface that corio's kqueue backend uses; the
 * behaviour behind it (tests/kqueue_double/kqueue_double.c) is built on
 * epoll and poll, written from the kqueue(2) manual page. It is found
 * only because the Makefile adds -Itests/kqueue_double to the kqueue
 * build on Linux. On a real BSD or macOS the system header is used and
 * this directory is not on the include path.
 *
 * Numbers (filters, flags, NOTE_*) are FreeBSD's, so that a trace taken
 * here reads like one taken on FreeBSD. What the double models, and what
 * it does not, is listed at the top of kqueue_double.c.
 */
#ifndef CORIO_KQUEUE_DOUBLE_SYS_EVENT_H
#define CORIO_KQUEUE_DOUBLE_SYS_EVENT_H

#include <stdint.h>
#include <time.h> /* struct timespec */

/* Tells code and tests that the double, not a kernel, answers. */
#define CORIO_KQUEUE_DOUBLE 1

/* The event record, with the six fields of the manual page. (FreeBSD 12
 * and later also carry ext[4] and a 64-bit data; nothing here uses them.) */
struct kevent {
    uintptr_t ident;      /* identifier: a descriptor, or any number for USER */
    short filter;         /* EVFILT_* */
    unsigned short flags; /* EV_* actions in, EV_* state out */
    unsigned int fflags;  /* filter-specific flags */
    intptr_t data;        /* filter-specific data */
    void *udata;          /* opaque, passed through unchanged */
};

#define EV_SET(kevp, a, b, c, d, e, f) do { \
        struct kevent *ev_set_p_ = (kevp);  \
        ev_set_p_->ident = (a);             \
        ev_set_p_->filter = (b);            \
        ev_set_p_->flags = (c);             \
        ev_set_p_->fflags = (d);            \
        ev_set_p_->data = (e);              \
        ev_set_p_->udata = (f);             \
    } while (0)

/* Filters the double knows. Any other filter number is EINVAL. */
#define EVFILT_READ   (-1)
#define EVFILT_WRITE  (-2)
#define EVFILT_USER   (-11)

/* Actions (flags, input). */
#define EV_ADD        0x0001 /* add, or modify if present; implies enable */
#define EV_DELETE     0x0002 /* remove */
#define EV_ENABLE     0x0004 /* let kevent() return it */
#define EV_DISABLE    0x0008 /* keep it, but do not return it */
#define EV_ONESHOT    0x0010 /* delete after the first report */
#define EV_CLEAR      0x0020 /* reset the state after each report (edge) */
#define EV_RECEIPT    0x0040 /* always answer a change with an EV_ERROR entry */
#define EV_DISPATCH   0x0080 /* disable after each report */

/* State (flags, output). */
#define EV_SYSFLAGS   0xF000 /* reserved: stripped from input */
#define EV_ERROR      0x4000 /* a change failed: data holds the errno */
#define EV_EOF        0x8000 /* filter-specific end of file */

/* EVFILT_USER: the low 24 bits of fflags are the user's; the top bits say
 * how a change combines them with the stored ones; NOTE_TRIGGER fires. */
#define NOTE_FFNOP      0x00000000
#define NOTE_FFAND      0x40000000
#define NOTE_FFOR       0x80000000
#define NOTE_FFCOPY     0xc0000000
#define NOTE_FFCTRLMASK 0xc0000000
#define NOTE_FFLAGSMASK 0x00ffffff
#define NOTE_TRIGGER    0x01000000

/* Which kernel's refusals the double reproduces when EVFILT_WRITE is
 * added on a pipe (a Linux pipe end, or any FIFO) whose other end is gone:
 *   FREEBSD (the default): the write end of a pipe with no reader left
 *            refuses it with EPIPE (sys_pipe.c, pipe_kqfilter);
 *   NETBSD:  either end whose peer is gone refuses it with EBADF, so a
 *            read end whose writer has left cannot take the write filter;
 *   NONE:    never refused (what the double did before: Linux's view).
 * Returns the previous setting. For tests; not thread-safe. */
#define CORIO_KQDOUBLE_FREEBSD 0
#define CORIO_KQDOUBLE_NETBSD  1
#define CORIO_KQDOUBLE_NONE    2
int corio__kqdouble_pipe_refusals(int mode);

/* The two calls. The double's symbols carry the project's prefix so that
 * they can never clash with a real libkqueue on the link line; the
 * function-like macros keep the spelling of the manual page (and leave
 * `struct kevent` alone, since a function-like macro needs a '('). */
int corio__kqdouble_kqueue(void);
int corio__kqdouble_kevent(int kq, const struct kevent *changelist,
                          int nchanges, struct kevent *eventlist,
                          int nevents, const struct timespec *timeout);

#define kqueue() corio__kqdouble_kqueue()
#define kevent(kq, cl, nc, el, ne, ts) \
    corio__kqdouble_kevent((kq), (cl), (nc), (el), (ne), (ts))

#endif
