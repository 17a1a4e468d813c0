/*
 * cpu_relax.h — the pause a spin-wait makes between two looks at a shared
 * word (the loop's inbox, a channel's lock). It tells the core that this
 * is a spin, so a hyper-thread sibling gets the pipeline and leaving the
 * loop does not pay a memory-order flush; elsewhere it is a no-op.
 */
#ifndef CORIO_CPU_RELAX_H
#define CORIO_CPU_RELAX_H

static inline void corio__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
