/*
 * chat_client.c — the chat client of chapter 8 of "Python Concurrency with
 * asyncio": you type while messages from the others keep arriving. Its
 * server is chat_server.c.
 *
 *   make examples && build/examples/chat_server 8000
 *   build/examples/chat_client 127.0.0.1 8000 alice     (other terminals)
 *   build/examples/chat_client 127.0.0.1 8000 bob
 *   type lines; end with Ctrl+D (Ctrl+Z Enter on Windows)
 *
 * Two tasks share the connection:
 *
 *   receiver:  readline from the server -> print it        (parks in the poller)
 *   sender:    read a line of the keyboard -> write it     (parks in to_thread)
 *
 * Reading the terminal is a blocking call that no poller can watch on
 * every OS (a Windows console handle is not a socket), so the sender runs
 * it on the thread pool with corio_to_thread, exactly as the book runs
 * input() in an executor. The loop, and with it the receiver, keeps
 * running while the worker thread waits for the keyboard.
 *
 * The book redraws the terminal with curses so incoming lines do not mix
 * with what you type; this client just prints them, one per line.
 *
 * Ending:
 *   - end of input: tell the server we are done (half-close); it answers
 *     by closing, the receiver sees the end, and we exit.
 *   - the server goes away first: the worker thread may still be blocked
 *     reading the keyboard, and no thread can be interrupted in a read.
 *     Python would wait for it at exit (you would have to press Enter);
 *     we end the process instead (exit without joining that thread).
 */
#include "corio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 1024

typedef struct session {
    corio_stream *server;
    char input[LINE_MAX_LEN + 2];
} session;

/* On a pool thread: one line from stdin, or NULL at end of input. */
static void *read_keyboard_line(void *arg)
{
    session *s = arg;
    return fgets(s->input, sizeof s->input, stdin) ? s->input : NULL;
}

static void *sender(void *arg)
{
    session *s = arg;
    for (;;) {
        void *line = NULL;
        int rc = corio_to_thread(read_keyboard_line, s, &line, NULL);
        if (rc < 0 || !line) break; /* cancelled, or end of input */
        size_t n = strlen(s->input);
        if (n && s->input[n - 1] != '\n') s->input[n++] = '\n', s->input[n] = '\0';
        if (corio_stream_write(s->server, s->input, n) < 0) break;
        if (corio_stream_drain(s->server) < 0) break;
    }
    /* "No more from me": the server then says goodbye and closes. */
    corio_stream_write_eof_until(s->server, corio_deadline_in(CORIO_SEC(5)));
    return NULL;
}

static void *receiver(void *arg)
{
    session *s = arg;
    char line[LINE_MAX_LEN + 256];
    ptrdiff_t n;
    while ((n = corio_stream_readline(s->server, line, sizeof line)) > 0) {
        fputs(line, stdout);
        if (line[n - 1] != '\n') fputc('\n', stdout);
        fflush(stdout);
    }
    return NULL;
}

typedef struct args {
    const char *host, *name;
    int port;
} args;

static void *main_task(void *arg)
{
    args *a = arg;
    session s;
    int rc = corio_open_connection_until(a->host, a->port, &s.server,
                                         corio_deadline_in(CORIO_SEC(10)));
    if (rc < 0) {
        fprintf(stderr, "chat_client: cannot connect to %s:%d: %s\n", a->host,
                a->port, corio_strerror(rc));
        return corio_fail(rc);
    }
    corio_stream_write(s.server, a->name, strlen(a->name));
    corio_stream_write(s.server, "\n", 1);

    corio_task *rx = corio_spawn(receiver, &s, NULL);
    corio_task *tx = corio_spawn(sender, &s, NULL);
    corio_join(rx, NULL); /* the server closed the connection */

    if (!corio_task_done(tx)) {
        /* The server left while we wait for the keyboard: see the header. */
        fprintf(stderr, "chat_client: the server closed the connection\n");
        fflush(stdout);
        _Exit(0);
    }
    corio_join(tx, NULL);
    corio_stream_close_until(s.server, corio_deadline_in(CORIO_SEC(1)));
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOST PORT NAME\n", argv[0]);
        return 2;
    }
    args a = { argv[1], argv[3], atoi(argv[2]) };
    return corio_run(main_task, &a, NULL) == 0 ? 0 : 1;
}
