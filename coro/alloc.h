/*
 * alloc.h — every heap allocation corio makes goes through these, so that
 * corio_replace_allocator (alloc.c) reaches all of them: a program that
 * brings its own allocator (an arena, a tracking or a locked heap) sees
 * each block corio takes and gives back. The library's sources call no
 * malloc/calloc/realloc/free/strdup of their own: tests/check_alloc.sh
 * fails `make test` on one.
 *
 * Not the heap, and not routed here: task stacks and the signal stack
 * (mmap / VirtualAlloc, coro/stack_*.c), and what the C library or the OS
 * allocates inside its own calls (getaddrinfo's answers, freed with
 * freeaddrinfo; thread start-up).
 */
#ifndef CORIO_ALLOC_H
#define CORIO_ALLOC_H

#include <stddef.h>

void *corio__malloc(size_t size);
void *corio__calloc(size_t count, size_t size);
void *corio__realloc(void *ptr, size_t size);
void  corio__free(void *ptr);
char *corio__strdup(const char *s);

/* corio_replace_allocator refuses while a loop exists (alloc.c). */
void corio__alloc_loop_opened(void);
void corio__alloc_loop_closed(void);

#endif
