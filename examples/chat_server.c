/*
 * chat_server.c — the chat server of chapter 8 of "Python Concurrency with
 * asyncio" (streams): many clients, names, every line broadcast to
 * everyone else, join and leave notices. Its client is chat_client.c.
 *
 *   make examples && build/examples/chat_server 8000
 *   build/examples/chat_client 127.0.0.1 8000 alice     (other terminals)
 *   build/examples/chat_client 127.0.0.1 8000 bob
 *   Ctrl+C (or SIGTERM) stops the server: everyone is told, then cut off.
 *
 * The protocol is lines of text. A client's first line is its name; each
 * later line is a message. The server sends lines back:
 *
 *   * alice joined (2 online: alice bob)
 *   alice: hello
 *   * alice left (1 online)
 *
 * One task per client (the server's handler), and one list of clients
 * that every handler reads. No lock: all tasks run on one thread and
 * only switch at blocking calls, and the list is never touched across
 * one (asyncio's chat server relies on the same thing).
 *
 * Broadcasting uses corio_stream_write, which never blocks: it sends
 * what the kernel takes and queues the rest. So one slow reader cannot
 * stall the others, but its queue would grow without end: a client
 * with more than SLOW_CLIENT_LIMIT unsent bytes is dropped (its handler
 * is cancelled). The book's version awaits writer.drain() for each
 * client in turn instead, which lets one stalled client stall everyone.
 */
#include "corio.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 32
#define LINE_MAX_LEN 1024
#define SLOW_CLIENT_LIMIT (1024 * 1024)
#define NAME_DEADLINE CORIO_SEC(30)   /* to say who you are */
#define GRACE CORIO_SEC(1)            /* at shutdown */

typedef struct client {
    char name[NAME_MAX_LEN + 1];
    corio_stream *stream;
    corio_task *task;              /* its handler, to cancel it */
    struct client *prev, *next;
} client;

typedef struct room {
    client *clients;
    size_t count;
} room;

/* ------------------------------------------------------------------ */
/* The room                                                            */
/* ------------------------------------------------------------------ */

static void room_add(room *r, client *c)
{
    c->prev = NULL;
    c->next = r->clients;
    if (c->next) c->next->prev = c;
    r->clients = c;
    r->count++;
}

static void room_remove(room *r, client *c)
{
    if (c->prev) c->prev->next = c->next; else r->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    r->count--;
}

static bool room_has_name(const room *r, const char *name)
{
    for (const client *c = r->clients; c; c = c->next)
        if (strcmp(c->name, name) == 0) return true;
    return false;
}

/* Send one line to everyone but `except` (NULL: to all). Never blocks. */
static void broadcast(room *r, const client *except, const char *line)
{
    size_t len = strlen(line);
    for (client *c = r->clients; c; c = c->next) {
        if (c == except) continue;
        if (corio_stream_write(c->stream, line, len) < 0 ||
            corio_stream_unsent(c->stream) > SLOW_CLIENT_LIMIT)
            corio_cancel(c->task); /* gone, or not reading: drop it */
    }
}

/* "alice bob carol" into buf. */
static void list_names(const room *r, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const client *c = r->clients; c && used + 1 < cap; c = c->next) {
        int n = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", c->name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* ------------------------------------------------------------------ */
/* One client                                                          */
/* ------------------------------------------------------------------ */

/* Drop the trailing "\n" (and "\r" from a Windows terminal). */
static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
}

static void chat(corio_stream *s, void *arg)
{
    room *r = arg;
    client me = { .stream = s, .task = corio_current() };
    char line[LINE_MAX_LEN + 1], out[LINE_MAX_LEN + 128];

    /* First line: the name. */
    ptrdiff_t n = corio_stream_readline_until(s, line, sizeof line,
                                              corio_deadline_in(NAME_DEADLINE));
    if (n <= 0) return;
    chomp(line);
    if (line[0] == '\0' || strlen(line) > NAME_MAX_LEN || room_has_name(r, line)) {
        snprintf(out, sizeof out, "* name '%.40s' is empty, too long or taken\n", line);
        corio_stream_write(s, out, strlen(out));
        return; /* the server flushes and closes the stream */
    }
    strcpy(me.name, line);
    room_add(r, &me);

    char names[512];
    list_names(r, names, sizeof names);
    snprintf(out, sizeof out, "* %s joined (%zu online: %s)\n", me.name,
             r->count, names);
    broadcast(r, NULL, out); /* the newcomer sees it too: a welcome */
    printf("%s", out);

    /* Then messages until the client leaves. The line limit protects us
     * from a client that never sends a newline. */
    while ((n = corio_stream_readline(s, line, sizeof line)) > 0) {
        chomp(line);
        snprintf(out, sizeof out, "%s: %s\n", me.name, line);
        broadcast(r, &me, out);
    }
    if (n == CORIO_ELIMIT) {
        snprintf(out, sizeof out, "* line longer than %d bytes: bye\n", LINE_MAX_LEN);
        corio_stream_write(s, out, strlen(out));
    }

    room_remove(r, &me);
    snprintf(out, sizeof out, "* %s left (%zu online)\n", me.name, r->count);
    /* We may have been cancelled (dropped, or shutdown): a broadcast never
     * blocks, so it still works. */
    broadcast(r, NULL, out);
    printf("%s", out);
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void *wait_signal(void *arg)
{
    int rc = corio_signal_wait((int)(intptr_t)arg);
    return rc == 0 ? arg : corio_fail(rc);
}

static void *main_task(void *arg)
{
    int port = *(int *)arg;
    room r = { NULL, 0 };
    corio_server_opts o;
    memset(&o, 0, sizeof o);
    o.stream.limit = LINE_MAX_LEN;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", port, chat, &r, &o, &srv);
    if (rc < 0) {
        fprintf(stderr, "chat_server: cannot listen on 127.0.0.1:%d: %s\n",
                port, corio_strerror(rc));
        return corio_fail(rc);
    }

    corio_task *waiters[2] = {
        corio_spawn(wait_signal, (void *)(intptr_t)SIGINT, NULL),
        corio_spawn(wait_signal, (void *)(intptr_t)SIGTERM, NULL),
    };
    corio_yield(); /* both handlers are installed once they wait */
    printf("chat server on 127.0.0.1:%d\n", corio_server_port(srv));

    corio_wait(waiters, 2, CORIO_FIRST_COMPLETED, NULL);
    for (int i = 0; i < 2; i++) {
        corio_cancel(waiters[i]);
        corio_join(waiters[i], NULL);
    }
    broadcast(&r, NULL, "* server shutting down\n");
    int cancelled = corio_server_shutdown_until(srv, corio_deadline_in(GRACE));
    printf("chat server stopped (%d client(s) cut off)\n", cancelled);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    return corio_run(main_task, &port, NULL) == 0 ? 0 : 1;
}
