/*
 * stream.h — what other net/ files need from stream.c beyond corio.h.
 *
 * corio_stream_open() asks the OS whether its descriptor is a socket
 * (corio__io_is_socket) and picks recv/send/shutdown for sockets,
 * read/write/close for anything else. A caller that already knows it
 * holds a pipe end (net/process.c) says so and saves the question.
 */
#ifndef CORIO_NET_STREAM_H
#define CORIO_NET_STREAM_H

#include "corio.h"

/* Wrap one end of a pipe: reads use read(2), writes write(2), and
 * write_eof closes the descriptor (a pipe has no half-close: closing the
 * write end is how the reader sees end of stream). The fd must be
 * non-blocking (os/io.h's pipes are). NULL if out of memory (the fd
 * is then still the caller's). */
corio_stream *corio__stream_open_pipe(corio_fd fd, const corio_stream_opts *o);

/* The background sender while it exists, else NULL: for tests that drive
 * a close or an abort into each of the sender's states. */
corio_task *corio__stream_flusher(const corio_stream *s);

#endif
